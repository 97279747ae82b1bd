//! Domain values → the feed's wire messages (topics and versioned JSON of
//! the `feed-contract` crate). Pure: the caller passes the time and the
//! depot id. The one rule that matters most lives here: an article's
//! classification picks the audience, so restricted stock and movements
//! only ever go under `restricted/`.

use std::collections::BTreeMap;

use feed_contract::payload::{self as wire, to_bytes};
use feed_contract::{Audience, DepotId, Topic, V2};
use time::OffsetDateTime;

use crate::depot::{ArticleStock, FeedMovement};
use crate::domain::article::{Article, Classification, Unit};
use crate::domain::booking::{MovementKind, Source};
use crate::domain::chain::{ChainHash, ChainHead};
use crate::domain::epoch::FeedEpoch;
use crate::domain::location::Location;
use crate::domain::utilization::{Fill, Utilization};

/// One MQTT publish, QoS 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub retain: bool,
    pub payload: Vec<u8>,
}

impl Message {
    fn new(depot: &DepotId, topic: Topic, payload: Vec<u8>) -> Self {
        Self {
            topic: topic.name(depot),
            retain: topic.retained(),
            payload,
        }
    }
}

/// Who may read an article's feed.
pub fn audience(classification: Classification) -> Audience {
    match classification {
        Classification::Open => Audience::Open,
        Classification::Restricted => Audience::Restricted,
    }
}

fn seq(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn hash(hash: ChainHash) -> wire::ChainHash {
    wire::ChainHash::from_bytes(hash.0)
}

/// The epoch as the feed carries it.
pub fn epoch(epoch: &FeedEpoch) -> wire::Epoch {
    wire::Epoch {
        id: wire::EpochId::from_bytes(epoch.id.bytes()),
        generation: epoch.generation,
        base: seq(epoch.base_seq),
    }
}

/// The retained status: the chain head (`seq` and its hash), and after a
/// restore what was restored.
pub fn status(
    depot: &DepotId,
    feed_epoch: &FeedEpoch,
    head: ChainHead,
    state: wire::LinkState,
    now: OffsetDateTime,
) -> Message {
    let body = wire::Status {
        v: V2,
        depot: depot.to_string(),
        epoch: epoch(feed_epoch),
        seq: seq(head.seq),
        hash: hash(head.hash),
        time: now,
        state,
        restored: feed_epoch.restored.as_ref().map(|mark| wire::Restored {
            at: mark.at,
            head_seq: seq(feed_epoch.base_seq),
            head_hash: mark.head_hash.map(hash),
        }),
    };
    Message::new(depot, Topic::Status, to_bytes(&body))
}

/// One ledger movement with its chain link, on the topic of its article's audience.
pub fn movement(depot: &DepotId, feed_epoch: &FeedEpoch, item: &FeedMovement) -> Message {
    let (movement, classification) = (&item.movement, item.classification);
    let body = wire::MovementMessage {
        v: V2,
        depot: depot.to_string(),
        epoch: epoch(feed_epoch),
        seq: seq(movement.seq),
        hash: hash(item.hash),
        prev: hash(item.prev),
        time: movement.recorded_at,
        kind: match movement.kind {
            MovementKind::Receive => wire::MovementKind::Receive,
            MovementKind::Move => wire::MovementKind::Move,
            MovementKind::Issue => wire::MovementKind::Issue,
            MovementKind::Adjust => wire::MovementKind::Adjust,
            MovementKind::TransferOut => wire::MovementKind::TransferOut,
            MovementKind::TransferIn => wire::MovementKind::TransferIn,
        },
        sku: movement.sku.to_string(),
        quantity: seq(movement.quantity),
        from: movement.from.as_ref().map(ToString::to_string),
        to: movement.to.as_ref().map(ToString::to_string),
        lot: (!movement.lot.as_str().is_empty()).then(|| movement.lot.as_str().to_owned()),
        epcs: movement.epcs.clone(),
        source: match movement.source {
            Source::Handheld => wire::Source::Handheld,
            Source::Gate => wire::Source::Gate,
            Source::Web => wire::Source::Web,
            Source::Import => wire::Source::Import,
            Source::Api => wire::Source::Api,
        },
    };
    let topic = Topic::Movements(audience(classification));
    Message::new(depot, topic, to_bytes(&body))
}

/// An article's current stock, retained on the topic of its audience.
pub fn stock(
    depot: &DepotId,
    feed_epoch: &FeedEpoch,
    stock: &ArticleStock,
    now: OffsetDateTime,
) -> Message {
    let article = &stock.article;
    let body = wire::StockSnapshot {
        v: V2,
        depot: depot.to_string(),
        epoch: epoch(feed_epoch),
        seq: seq(stock.last_seq),
        time: now,
        article: wire::ArticleFacts {
            sku: article.sku.to_string(),
            name: article.name.clone(),
            unit: match article.unit {
                Unit::Piece => wire::Unit::Piece,
                Unit::Kilogram => wire::Unit::Kg,
                Unit::Litre => wire::Unit::L,
                Unit::Metre => wire::Unit::M,
                Unit::Box => wire::Unit::Box,
                Unit::Pallet => wire::Unit::Pallet,
            },
            gtin: article.gtin.as_ref().map(|g| g.as_str().to_owned()),
            nsn: article.nsn.as_ref().map(|n| n.digits().to_owned()),
            supply_class: article.supply_class.as_ref().map(|c| c.as_str().to_owned()),
        },
        total: stock.zones.iter().fold(0u64, |sum, (_, quantity)| {
            sum.saturating_add(seq(*quantity))
        }),
        zones: stock
            .zones
            .iter()
            .map(|(zone, quantity)| wire::ZoneStock {
                zone: zone.clone(),
                quantity: seq(*quantity),
            })
            .collect(),
    };
    let topic = Topic::Stock(audience(article.classification), article.sku.to_string());
    Message::new(depot, topic, to_bytes(&body))
}

/// An empty retained message on the audience an article is not in: clears
/// a snapshot left there before it was reclassified.
pub fn clear(depot: &DepotId, article: &Article) -> Message {
    let other = audience(article.classification).other();
    Message::new(
        depot,
        Topic::Stock(other, article.sku.to_string()),
        Vec::new(),
    )
}

fn fill(fill: Fill) -> wire::Fill {
    wire::Fill {
        used: seq(fill.used),
        capacity: fill.capacity.map(seq),
        free: fill.capacity.map(|c| seq(c.saturating_sub(fill.used))),
    }
}

/// Utilisation per zone and for the depot, from each location's.
pub fn utilization(
    depot: &DepotId,
    feed_epoch: &FeedEpoch,
    last_seq: i64,
    locations: &[(Location, Utilization)],
    now: OffsetDateTime,
) -> Message {
    let mut zones: BTreeMap<&str, Utilization> = BTreeMap::new();
    let mut total: Option<Utilization> = None;
    for (location, used) in locations {
        zones
            .entry(location.zone.as_str())
            .and_modify(|z| *z = z.plus(*used))
            .or_insert(*used);
        total = Some(total.map_or(*used, |t| t.plus(*used)));
    }
    let total = total.unwrap_or(Utilization::of(Default::default(), Default::default()));
    let body = wire::UtilizationSnapshot {
        v: V2,
        depot: depot.to_string(),
        epoch: epoch(feed_epoch),
        seq: seq(last_seq),
        time: now,
        total: wire::DepotUtilization {
            volume_ml: fill(total.volume_ml),
            weight_g: fill(total.weight_g),
            pallets: fill(total.pallets),
        },
        zones: zones
            .into_iter()
            .map(|(zone, u)| wire::ZoneUtilization {
                zone: zone.to_owned(),
                volume_ml: fill(u.volume_ml),
                weight_g: fill(u.weight_g),
                pallets: fill(u.pallets),
            })
            .collect(),
    };
    Message::new(depot, Topic::Utilization, to_bytes(&body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::article::{Nsn, Sku};
    use crate::domain::ledger::Movement;
    use crate::domain::location::{Capacity, LocationCode, LocationKind};
    use crate::domain::quantity::Lot;
    use crate::domain::utilization::Usage;

    fn depot() -> DepotId {
        DepotId::parse("north-7").expect("id")
    }

    fn first() -> FeedEpoch {
        FeedEpoch::first(crate::domain::epoch::EpochId::from_bytes([0xab; 16]))
    }

    fn feed(classification: Classification) -> FeedMovement {
        FeedMovement {
            movement: booked(),
            classification,
            hash: ChainHash([9; 32]),
            prev: ChainHash([8; 32]),
        }
    }

    fn article(classification: Classification) -> Article {
        Article {
            sku: Sku::parse("AMMO-1").expect("sku"),
            name: "Cartridges".into(),
            unit: Unit::Box,
            gtin: None,
            nsn: Some(Nsn::parse("1305-12-345-6789").expect("nsn")),
            supply_class: None,
            classification,
            unit_weight_g: None,
            unit_volume_ml: None,
            lot_tracked: false,
            expiry_tracked: false,
        }
    }

    fn booked() -> Movement {
        Movement {
            seq: 9,
            kind: MovementKind::Receive,
            sku: Sku::parse("AMMO-1").expect("sku"),
            quantity: 4,
            from: None,
            to: Some(LocationCode::parse("B-1").expect("code")),
            lot: Lot::none(),
            epcs: vec![],
            actor: "staff".into(),
            source: Source::Handheld,
            idempotency_key: Some("k".into()),
            reason: None,
            recorded_at: time::macros::datetime!(2026-12-02 01:00 UTC),
        }
    }

    fn json(message: &Message) -> serde_json::Value {
        serde_json::from_slice(&message.payload).expect("json")
    }

    #[test]
    fn restricted_articles_go_only_under_restricted() {
        let open = movement(&depot(), &first(), &feed(Classification::Open));
        assert_eq!(open.topic, "depot/v1/north-7/movements");
        assert!(!open.retain);
        let restricted = movement(&depot(), &first(), &feed(Classification::Restricted));
        assert_eq!(restricted.topic, "depot/v1/north-7/restricted/movements");
        assert_eq!(json(&restricted), json(&open), "same payload, other topic");

        let snapshot = ArticleStock {
            article: article(Classification::Restricted),
            last_seq: 9,
            zones: vec![("A".into(), 3), ("B".into(), 4)],
        };
        let message = stock(
            &depot(),
            &first(),
            &snapshot,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(message.topic, "depot/v1/north-7/restricted/stock/AMMO-1");
        assert!(message.retain);
        let clearing = clear(&depot(), &snapshot.article);
        assert_eq!(clearing.topic, "depot/v1/north-7/stock/AMMO-1");
        assert!(clearing.retain && clearing.payload.is_empty());
    }

    #[test]
    fn payloads_carry_version_depot_seq_and_time() {
        let body = json(&movement(&depot(), &first(), &feed(Classification::Open)));
        assert_eq!(body["v"], 2);
        assert_eq!(body["depot"], "north-7");
        assert_eq!(
            body["epoch"],
            serde_json::json!({"id": "ab".repeat(16), "generation": 0, "base": 0})
        );
        assert_eq!(body["seq"], 9);
        assert_eq!(body["hash"], "09".repeat(32));
        assert_eq!(body["prev"], "08".repeat(32));
        assert_eq!(body["time"], "2026-12-02T01:00:00Z");
        assert_eq!(body["lot"], serde_json::Value::Null);
        assert!(body.get("actor").is_none(), "who booked stays in the depot");

        let snapshot = ArticleStock {
            article: article(Classification::Open),
            last_seq: 9,
            zones: vec![("A".into(), 3), ("B".into(), 4)],
        };
        let body = json(&stock(
            &depot(),
            &first(),
            &snapshot,
            time::OffsetDateTime::UNIX_EPOCH,
        ));
        assert_eq!(body["total"], 7);
        assert_eq!(body["article"]["nsn"], "1305123456789");
        assert_eq!(
            body["zones"][1],
            serde_json::json!({"zone":"B","quantity":4})
        );
    }

    #[test]
    fn utilization_sums_zones_and_knows_capacity_only_where_all_have_it() {
        let location = |code: &str, zone: &str, volume_l: Option<i64>| Location {
            code: LocationCode::parse(code).expect("code"),
            zone: zone.into(),
            kind: LocationKind::Bin,
            capacity: Capacity {
                volume_l,
                weight_kg: None,
                pallets: None,
            },
        };
        let used = |ml| Usage {
            volume_ml: ml,
            ..Usage::default()
        };
        let rows = [
            (
                location("A-1", "A", Some(10)),
                Utilization::of(
                    Capacity {
                        volume_l: Some(10),
                        ..Capacity::default()
                    },
                    used(4_000),
                ),
            ),
            (
                location("A-2", "A", Some(10)),
                Utilization::of(
                    Capacity {
                        volume_l: Some(10),
                        ..Capacity::default()
                    },
                    used(1_000),
                ),
            ),
            (
                location("B-1", "B", None),
                Utilization::of(Capacity::default(), used(500)),
            ),
        ];
        let body = json(&utilization(
            &depot(),
            &first(),
            3,
            &rows,
            time::OffsetDateTime::UNIX_EPOCH,
        ));
        assert_eq!(
            body["zones"][0]["volume_ml"],
            serde_json::json!({"used":5000,"capacity":20000,"free":15000})
        );
        assert_eq!(
            body["total"]["volume_ml"],
            serde_json::json!({"used":5500,"capacity":null,"free":null})
        );
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;
    use crate::domain::epoch::EpochId;

    #[test]
    fn status_carries_the_chain_head_and_what_a_restore_put_back() {
        let depot = DepotId::parse("north-7").expect("id");
        let at = time::macros::datetime!(2026-12-02 11:00 UTC);
        let restored = FeedEpoch::after_restore(
            EpochId::from_bytes([1; 16]),
            [0],
            40,
            Some(ChainHash([4; 32])),
            at,
        );
        let head = ChainHead {
            seq: 42,
            hash: ChainHash([2; 32]),
        };
        let message = status(&depot, &restored, head, wire::LinkState::Online, at);
        assert_eq!(message.topic, "depot/v1/north-7/status");
        assert!(message.retain);
        let body: serde_json::Value = serde_json::from_slice(&message.payload).expect("json");
        assert_eq!(body["seq"], 42);
        assert_eq!(body["hash"], "02".repeat(32));
        assert_eq!(body["epoch"]["generation"], 1);
        assert_eq!(body["epoch"]["base"], 40);
        assert_eq!(
            body["restored"],
            serde_json::json!({"at": "2026-12-02T11:00:00Z", "head_seq": 40, "head_hash": "04".repeat(32)})
        );
        let first = FeedEpoch::first(EpochId::from_bytes([1; 16]));
        let body: serde_json::Value = serde_json::from_slice(
            &status(
                &depot,
                &first,
                ChainHead::EMPTY,
                wire::LinkState::Offline,
                at,
            )
            .payload,
        )
        .expect("json");
        assert_eq!(body["restored"], serde_json::Value::Null);
        assert_eq!(body["hash"], "0".repeat(64));
    }
}
