//! The JSON Schema files and the Rust types agree: every payload the types
//! produce is valid by its topic's schema, and for every way of breaking one
//! (a field removed, added, nulled or given the wrong type, another
//! version, a time that is not RFC 3339) the schema and the types accept or
//! refuse it alike.

#![allow(clippy::unwrap_used)]

use feed_contract::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use time::macros::datetime;

fn schema(name: &str) -> (boon::Schemas, boon::SchemaIndex) {
    let path = format!("{}/schemas/{name}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    let url = format!("file:///{name}.schema.json");
    compiler.add_resource(&url, value).unwrap();
    let index = compiler.compile(&url, &mut schemas).unwrap();
    (schemas, index)
}

/// Every variant of `instance` with one thing changed, at every depth.
fn mutations(instance: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    match instance {
        Value::Object(map) => {
            let mut extra = map.clone();
            extra.insert("unexpected".into(), json!(1));
            out.push(Value::Object(extra));
            for (key, value) in map {
                let mut removed = map.clone();
                removed.remove(key);
                out.push(Value::Object(removed));
                for replacement in [
                    json!(null),
                    json!(true),
                    json!("text"),
                    json!(-1),
                    json!([]),
                ] {
                    let mut changed = map.clone();
                    changed.insert(key.clone(), replacement);
                    out.push(Value::Object(changed));
                }
                for inner in mutations(value) {
                    let mut changed = map.clone();
                    changed.insert(key.clone(), inner);
                    out.push(Value::Object(changed));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                for inner in mutations(item) {
                    let mut changed = items.clone();
                    changed[i] = inner;
                    out.push(Value::Array(changed));
                }
            }
        }
        _ => {}
    }
    out
}

fn agree<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, samples: &[T]) {
    let (schemas, index) = schema(name);
    for sample in samples {
        let value = serde_json::to_value(sample).unwrap();
        assert!(
            schemas.validate(&value, index).is_ok(),
            "{name}: generated payload refused by the schema: {value}"
        );
        assert_eq!(&serde_json::from_value::<T>(value.clone()).unwrap(), sample);
        let mut checked = 0;
        for changed in mutations(&value) {
            let by_schema = schemas.validate(&changed, index).is_ok();
            let by_types = serde_json::from_value::<T>(changed.clone()).is_ok();
            assert_eq!(
                by_schema, by_types,
                "{name}: schema says {by_schema}, types say {by_types} for {changed}"
            );
            checked += 1;
        }
        assert!(checked > 20, "{name}: only {checked} variants");
    }
}

const TIME: time::OffsetDateTime = datetime!(2026-12-02 01:30:00.25 UTC);

fn epoch() -> Epoch {
    Epoch {
        id: EpochId::parse("0123456789abcdef0123456789abcdef").unwrap(),
        generation: 1,
        base: 40,
    }
}

fn hash(digit: char) -> ChainHash {
    ChainHash::parse(&digit.to_string().repeat(64)).unwrap()
}

#[test]
fn status_schema_and_type_agree() {
    let online = Status {
        v: V2,
        depot: "north-7".into(),
        epoch: epoch(),
        seq: 42,
        hash: hash('a'),
        time: TIME,
        state: LinkState::Online,
        restored: Some(Restored {
            at: TIME,
            head_seq: 40,
            head_hash: Some(hash('b')),
        }),
    };
    let offline = Status {
        state: LinkState::Offline,
        seq: 0,
        hash: hash('0'),
        restored: None,
        epoch: Epoch {
            generation: 0,
            base: 0,
            ..epoch()
        },
        ..online.clone()
    };
    let before_the_chain = Status {
        restored: Some(Restored {
            at: TIME,
            head_seq: 40,
            head_hash: None,
        }),
        ..online.clone()
    };
    agree("status", &[online, offline, before_the_chain]);
}

#[test]
fn resend_schema_and_type_agree() {
    let request = ResendRequest {
        v: V2,
        depot: "north-7".into(),
        epoch: epoch().id,
        from: 11,
        to: 20,
        time: TIME,
    };
    agree("resend", &[request]);
}

#[test]
fn movements_schema_and_type_agree() {
    let counted = MovementMessage {
        v: V2,
        depot: "north-7".into(),
        epoch: epoch(),
        seq: 7,
        hash: hash('7'),
        prev: hash('6'),
        time: TIME,
        kind: MovementKind::Move,
        sku: "ART-1".into(),
        quantity: 5,
        from: Some("A-01-03".into()),
        to: Some("B-1".into()),
        lot: None,
        epcs: vec![],
        source: Source::Handheld,
    };
    let items = MovementMessage {
        seq: 8,
        kind: MovementKind::Receive,
        from: None,
        lot: Some("L2026-12".into()),
        epcs: vec!["urn:epc:id:sgtin:0614141.812345.6789".into()],
        source: Source::Gate,
        ..counted.clone()
    };
    agree("movements", &[counted, items]);
}

#[test]
fn stock_schema_and_type_agree() {
    let full = StockSnapshot {
        v: V2,
        depot: "north-7".into(),
        epoch: epoch(),
        seq: 12,
        time: TIME,
        article: ArticleFacts {
            sku: "WATER-1L5".into(),
            name: "Water 1.5 l".into(),
            unit: Unit::Box,
            gtin: Some("80614141123458".into()),
            nsn: Some("8960120001234".into()),
            supply_class: Some("I".into()),
        },
        total: 30,
        zones: vec![
            ZoneStock {
                zone: "A".into(),
                quantity: 10,
            },
            ZoneStock {
                zone: "B".into(),
                quantity: 20,
            },
        ],
    };
    let bare = StockSnapshot {
        seq: 0,
        article: ArticleFacts {
            gtin: None,
            nsn: None,
            supply_class: None,
            ..full.article.clone()
        },
        total: 0,
        zones: vec![],
        ..full.clone()
    };
    agree("stock", &[full, bare]);
}

#[test]
fn utilization_schema_and_type_agree() {
    let limited = Fill {
        used: 600,
        capacity: Some(1000),
        free: Some(400),
    };
    let open = Fill {
        used: 3,
        capacity: None,
        free: None,
    };
    let snapshot = UtilizationSnapshot {
        v: V2,
        depot: "north-7".into(),
        epoch: epoch(),
        seq: 12,
        time: TIME,
        total: DepotUtilization {
            volume_ml: limited,
            weight_g: open,
            pallets: open,
        },
        zones: vec![ZoneUtilization {
            zone: "A".into(),
            volume_ml: limited,
            weight_g: open,
            pallets: limited,
        }],
    };
    agree("utilization", &[snapshot]);
}

#[test]
fn another_version_is_refused_by_both() {
    let (schemas, index) = schema("status");
    let v1 = json!({"v":1,"depot":"a","seq":1,"time":"2026-12-02T01:30:00Z","state":"online"});
    assert!(schemas.validate(&v1, index).is_err());
    let error = serde_json::from_value::<Status>(v1).unwrap_err();
    assert!(error.to_string().contains("version 1"), "{error}");
}

#[test]
fn hashes_and_epoch_ids_are_lowercase_hex_of_their_length() {
    assert!(ChainHash::parse(&"a".repeat(64)).is_some());
    for bad in [
        "A".repeat(64),
        "a".repeat(63),
        "g".repeat(64),
        String::new(),
    ] {
        assert!(ChainHash::parse(&bad).is_none(), "{bad}");
    }
    assert!(EpochId::parse(&"0".repeat(32)).is_some());
    assert!(EpochId::parse(&"0".repeat(64)).is_none());
}
