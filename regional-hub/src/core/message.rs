//! A feed message as the hub applies it: topic name and payload bytes parsed
//! into one value with the `feed-contract` types, or refused with a reason.
//! A payload must name the depot of its topic.

use feed_contract::{
    Audience, DepotId, MovementMessage, Status, StockSnapshot, Topic, UtilizationSnapshot,
};

/// One parsed feed message of one depot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub depot: DepotId,
    pub body: Body,
}

/// What a feed message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Movement(Audience, MovementMessage),
    Stock(Audience, StockSnapshot),
    /// An empty retained message on a stock topic: the broker's snapshot was
    /// cleared (the article moved to the other audience). Nothing to apply:
    /// the other audience's snapshot, taken later, supersedes ours.
    StockCleared,
    Utilization(UtilizationSnapshot),
    Status(Status),
}

/// Why a message was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a feed topic: {0}")]
    Topic(String),
    #[error("payload of {topic} does not parse: {reason}")]
    Payload { topic: String, reason: String },
    #[error("payload of {topic} names depot {named}")]
    OtherDepot { topic: String, named: String },
    #[error("a figure in {topic} is past 2^63")]
    TooLarge { topic: String },
}

/// Parses a message received on `topic`.
pub fn parse(topic: &str, payload: &[u8]) -> Result<Message, Refused> {
    let (depot, kind) = Topic::parse(topic).ok_or_else(|| Refused::Topic(topic.to_owned()))?;
    let wrong = |reason: serde_json::Error| Refused::Payload {
        topic: topic.to_owned(),
        reason: reason.to_string(),
    };
    // Every figure the store keeps must fit its signed 64-bit columns.
    let (named, figures, body) = match kind {
        Topic::Stock(_, _) if payload.is_empty() => {
            return Ok(Message {
                depot,
                body: Body::StockCleared,
            })
        }
        Topic::Movements(audience) => {
            let m: MovementMessage = serde_json::from_slice(payload).map_err(wrong)?;
            (
                m.depot.clone(),
                vec![m.seq, m.quantity, m.epoch.generation, m.epoch.base],
                Body::Movement(audience, m),
            )
        }
        Topic::Stock(audience, sku) => {
            let s: StockSnapshot = serde_json::from_slice(payload).map_err(wrong)?;
            if s.article.sku != sku {
                return Err(Refused::Payload {
                    topic: topic.to_owned(),
                    reason: format!("article {} on another article's topic", s.article.sku),
                });
            }
            (
                s.depot.clone(),
                vec![s.seq, s.total, s.epoch.generation, s.epoch.base],
                Body::Stock(audience, s),
            )
        }
        Topic::Utilization => {
            let u: UtilizationSnapshot = serde_json::from_slice(payload).map_err(wrong)?;
            let fills = [u.total.volume_ml, u.total.weight_g, u.total.pallets];
            let mut figures = vec![u.seq, u.epoch.generation, u.epoch.base];
            for fill in fills {
                figures.extend(
                    [Some(fill.used), fill.capacity, fill.free]
                        .into_iter()
                        .flatten(),
                );
            }
            (u.depot.clone(), figures, Body::Utilization(u))
        }
        Topic::Status => {
            let s: Status = serde_json::from_slice(payload).map_err(wrong)?;
            let mut figures = vec![s.seq, s.epoch.generation, s.epoch.base];
            figures.extend(s.restored.as_ref().map(|r| r.head_seq));
            (s.depot.clone(), figures, Body::Status(s))
        }
    };
    if named != depot.as_str() {
        return Err(Refused::OtherDepot {
            topic: topic.to_owned(),
            named,
        });
    }
    if figures.iter().any(|f| *f > i64::MAX as u64) {
        return Err(Refused::TooLarge {
            topic: topic.to_owned(),
        });
    }
    Ok(Message { depot, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOVEMENT: &str = r#"{"v":2,"depot":"north-1","epoch":{"id":"0123456789abcdef0123456789abcdef","generation":0,"base":0},"seq":7,"hash":"7777777777777777777777777777777777777777777777777777777777777777","prev":"6666666666666666666666666666666666666666666666666666666666666666","time":"2026-12-01T10:00:00Z","kind":"receive","sku":"ART-1","quantity":5,"from":null,"to":"B-1","lot":null,"epcs":[],"source":"api"}"#;

    #[test]
    fn a_movement_parses_and_names_its_audience() {
        let message =
            parse("depot/v1/north-1/restricted/movements", MOVEMENT.as_bytes()).expect("parses");
        assert_eq!(message.depot.as_str(), "north-1");
        assert!(matches!(message.body, Body::Movement(Audience::Restricted, ref m) if m.seq == 7));
    }

    #[test]
    fn refusals_name_the_reason() {
        assert!(matches!(
            parse("depot/v1/south-2/movements", MOVEMENT.as_bytes()),
            Err(Refused::OtherDepot { .. })
        ));
        assert!(matches!(
            parse("depot/v1/north-1/movements", b"{\"v\":1}"),
            Err(Refused::Payload { .. })
        ));
        assert!(matches!(
            parse("elsewhere/x", MOVEMENT.as_bytes()),
            Err(Refused::Topic(_))
        ));
        let huge = MOVEMENT.replace("\"seq\":7", "\"seq\":18446744073709551615");
        assert!(matches!(
            parse("depot/v1/north-1/movements", huge.as_bytes()),
            Err(Refused::TooLarge { .. })
        ));
        let huge_epoch =
            MOVEMENT.replace("\"generation\":0", "\"generation\":18446744073709551615");
        assert!(matches!(
            parse("depot/v1/north-1/movements", huge_epoch.as_bytes()),
            Err(Refused::TooLarge { .. })
        ));
        assert_eq!(
            parse("depot/v1/north-1/stock/ART-1", b"").map(|m| m.body),
            Ok(Body::StockCleared)
        );
    }
}
