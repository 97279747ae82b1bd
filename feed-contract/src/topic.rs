//! Topic names: `depot/v1/{depot}/…` for open data and
//! `depot/v1/{depot}/restricted/…` for restricted articles, so a broker can
//! grade access with plain ACL patterns.

use std::fmt;

/// The first two levels of every feed topic.
pub const PREFIX: &str = "depot/v1";

/// A depot id as topics carry it: `[a-z0-9-]{1,32}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DepotId(String);

impl DepotId {
    /// Checks the brief's syntax; `None` if `text` is not a depot id.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DepotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who may read a topic: anyone with access to the depot's feed, or only
/// identities cleared for restricted articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    Open,
    Restricted,
}

impl Audience {
    /// The other side: where a reclassified article's old snapshot must be cleared.
    pub fn other(self) -> Self {
        match self {
            Audience::Open => Audience::Restricted,
            Audience::Restricted => Audience::Open,
        }
    }

    fn infix(self) -> &'static str {
        match self {
            Audience::Open => "",
            Audience::Restricted => "restricted/",
        }
    }
}

/// One feed topic of one depot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `status`: retained, `online` or `offline` (the Last Will).
    Status,
    /// `movements` or `restricted/movements`: each ledger movement, not retained.
    Movements(Audience),
    /// `stock/{sku}` or `restricted/stock/{sku}`: an article's current stock, retained.
    Stock(Audience, String),
    /// `utilization`: capacity used and free per zone and depot, retained.
    Utilization,
}

impl Topic {
    /// Whether the broker keeps the newest message for late subscribers.
    pub fn retained(&self) -> bool {
        !matches!(self, Topic::Movements(_))
    }

    /// The full topic name for `depot`.
    pub fn name(&self, depot: &DepotId) -> String {
        match self {
            Topic::Status => format!("{PREFIX}/{depot}/status"),
            Topic::Movements(audience) => format!("{PREFIX}/{depot}/{}movements", audience.infix()),
            Topic::Stock(audience, sku) => {
                format!("{PREFIX}/{depot}/{}stock/{sku}", audience.infix())
            }
            Topic::Utilization => format!("{PREFIX}/{depot}/utilization"),
        }
    }

    /// The depot and topic a name stands for; `None` for anything else
    /// (another prefix, a bad depot id, an SKU with topic wildcards or `/`).
    pub fn parse(name: &str) -> Option<(DepotId, Topic)> {
        let rest = name.strip_prefix(PREFIX)?.strip_prefix('/')?;
        let (depot, rest) = rest.split_once('/')?;
        let depot = DepotId::parse(depot)?;
        let (audience, rest) = match rest.strip_prefix("restricted/") {
            Some(rest) => (Audience::Restricted, rest),
            None => (Audience::Open, rest),
        };
        let topic = match (audience, rest) {
            (Audience::Open, "status") => Topic::Status,
            (Audience::Open, "utilization") => Topic::Utilization,
            (_, "movements") => Topic::Movements(audience),
            (_, stock) => {
                let sku = stock.strip_prefix("stock/")?;
                let ok = (1..=64).contains(&sku.len())
                    && sku
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
                if !ok {
                    return None;
                }
                Topic::Stock(audience, sku.to_owned())
            }
        };
        Some((depot, topic))
    }
}

/// The first two levels of the hub's requests to depots: apart from the
/// feed, so the hub's subscription to every depot's feed does not bring its
/// own requests back, and the broker's ACL grants them apart.
pub const REQUEST_PREFIX: &str = "hub/v1";

/// Where the hub asks `depot` to resend movements it misses
/// (`payload::ResendRequest`).
pub fn resend_topic(depot: &DepotId) -> String {
    format!("{REQUEST_PREFIX}/{depot}/resend")
}

/// Subscription filters: everything of every depot, and what a cell without
/// clearance may read (brief §6; the broker's ACL enforces it).
pub mod filters {
    /// Every topic of every depot (the hub).
    pub const ALL: &str = "depot/v1/+/#";
    /// Open stock of every depot.
    pub const OPEN_STOCK: &str = "depot/v1/+/stock/#";
    /// Restricted topics of every depot: only cleared identities.
    pub const RESTRICTED: &str = "depot/v1/+/restricted/#";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_restricted_is_its_own_subtree() {
        let depot = DepotId::parse("north-7").expect("id");
        let cases = [
            (Topic::Status, "depot/v1/north-7/status"),
            (
                Topic::Movements(Audience::Open),
                "depot/v1/north-7/movements",
            ),
            (
                Topic::Movements(Audience::Restricted),
                "depot/v1/north-7/restricted/movements",
            ),
            (
                Topic::Stock(Audience::Open, "ART-1".into()),
                "depot/v1/north-7/stock/ART-1",
            ),
            (
                Topic::Stock(Audience::Restricted, "AMMO.5_56".into()),
                "depot/v1/north-7/restricted/stock/AMMO.5_56",
            ),
            (Topic::Utilization, "depot/v1/north-7/utilization"),
        ];
        for (topic, name) in cases {
            assert_eq!(topic.name(&depot), name);
            assert_eq!(Topic::parse(name), Some((depot.clone(), topic.clone())));
            let restricted = name.starts_with("depot/v1/north-7/restricted/");
            let is_restricted = matches!(
                topic,
                Topic::Movements(Audience::Restricted) | Topic::Stock(Audience::Restricted, _)
            );
            assert_eq!(restricted, is_restricted, "{name}");
        }
        assert!(!Topic::Movements(Audience::Open).retained());
        assert!(Topic::Status.retained() && Topic::Utilization.retained());
    }

    #[test]
    fn resend_requests_go_apart_from_the_feed() {
        let depot = DepotId::parse("north-7").expect("id");
        assert_eq!(resend_topic(&depot), "hub/v1/north-7/resend");
        assert_eq!(Topic::parse(&resend_topic(&depot)), None);
    }

    #[test]
    fn foreign_names_are_refused() {
        for name in [
            "depot/v2/a/status",
            "depot/v1/A/status",
            "depot/v1/a/restricted/status",
            "depot/v1/a/stock/+",
            "depot/v1/a/stock/x/y",
            "depot/v1/a/stock/",
            "depot/v1/a/other",
            "depot/v1/a",
        ] {
            assert_eq!(Topic::parse(name), None, "{name}");
        }
        assert!(DepotId::parse("").is_none());
        assert!(DepotId::parse(&"a".repeat(33)).is_none());
    }
}
