//! `demo`: a fresh database with demo articles, locations, stock and users.
//!
//! A database is marked as a demo one in `depot_meta`; `demo` recreates only
//! such a database and refuses to touch any other.

use std::path::{Path, PathBuf};

use crate::depot::{self, BookingInput, Depot, StoreOptions, Submission};
use crate::domain::access::Role;
use crate::domain::article::{Article, Classification, Gtin, Nsn, Sku, SupplyClass, Unit};
use crate::domain::booking::{BookingRequest, MovementKind, Source};
use crate::domain::location::{Capacity, Location, LocationCode, LocationKind};
use crate::domain::quantity::{Lot, Quantity};
use anyhow::{bail, Context};

/// The `depot_meta` key that marks a demo database (the gateway simulator
/// runs only on one).
pub const DEMO_MARK: &str = "demo";

/// Makes sure `path` may be (re)created as a demo database: absent, or a demo
/// database already (then it is deleted). Refuses any other database.
pub async fn prepare(path: &Path, options: &StoreOptions) -> anyhow::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    // Read the mark without migrating: never write to a file before knowing it is ours.
    let is_demo = depot::peek_meta(path, options, DEMO_MARK).await.as_deref() == Some("true");
    if !is_demo {
        bail!(
            "{} is not a demo depot database; refusing to overwrite it. \
             Use --db to choose another file for the demo.",
            path.display()
        );
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = PathBuf::from(path).into_os_string();
        file.push(suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot remove {}", PathBuf::from(file).display()))
            }
        }
    }
    Ok(())
}

/// A demo user with a fresh API token and a fresh one-time web password.
pub struct DemoUser {
    pub name: String,
    pub role: Role,
    pub token: String,
    pub password: String,
}

/// The demo users.
pub struct DemoUsers(pub Vec<DemoUser>);

/// Fills a fresh database: locations, articles, users, and stock booked through the ledger.
pub async fn seed(depot: &Depot) -> anyhow::Result<DemoUsers> {
    let operator = depot::operator("demo-import");
    depot.import_locations(&operator, locations()?).await?;
    depot.import_articles(&operator, articles()?).await?;
    depot.set_meta(DEMO_MARK, "true").await?;

    let mut users = Vec::new();
    for (name, role, restricted) in [
        ("demo-staff", Role::Staff, false),
        ("demo-manager", Role::Manager, true),
        ("demo-auditor", Role::Auditor, true),
    ] {
        let token = crate::users::add(depot, name, role, restricted).await?;
        let password = crate::passwords::generate();
        crate::users::passwd(depot, name, &password).await?;
        users.push(DemoUser {
            name: name.to_owned(),
            role,
            token,
            password,
        });
    }

    for (sku, location, quantity, lot) in stock() {
        let request = BookingRequest {
            kind: MovementKind::Receive,
            sku: Sku::parse(sku)?,
            quantity: Quantity::new(quantity)?,
            from: None,
            to: Some(LocationCode::parse(location)?),
            lot: lot.map(Lot::parse).transpose()?.unwrap_or_default(),
            epcs: Vec::new(),
            reason: None,
        };
        let submission = Submission {
            caller: operator.clone(),
            source: Source::Import,
            idempotency: None,
            input: BookingInput::Count(request),
        };
        if let Err(refusal) = depot.book(submission).await?.outcome {
            bail!("demo stock {sku} at {location} refused: {refusal}");
        }
    }
    Ok(DemoUsers(users))
}

fn locations() -> anyhow::Result<Vec<Location>> {
    // (code, zone, kind, volume l, weight kg, pallet places)
    type Spec<'a> = (
        &'a str,
        &'a str,
        LocationKind,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let spec: &[Spec] = &[
        (
            "A-01-01",
            "A",
            LocationKind::Bin,
            Some(800),
            Some(1000),
            Some(2),
        ),
        (
            "A-01-02",
            "A",
            LocationKind::Bin,
            Some(800),
            Some(1000),
            Some(2),
        ),
        (
            "A-01-03",
            "A",
            LocationKind::Bin,
            Some(800),
            Some(1000),
            Some(2),
        ),
        (
            "A-02-01",
            "A",
            LocationKind::Bin,
            Some(800),
            Some(1000),
            Some(2),
        ),
        (
            "B-01-01",
            "B",
            LocationKind::Bin,
            Some(2400),
            Some(3000),
            Some(6),
        ),
        (
            "B-01-02",
            "B",
            LocationKind::Bin,
            Some(2400),
            Some(3000),
            Some(6),
        ),
        ("DOCK-1", "DOCK", LocationKind::Dock, None, None, Some(12)),
        ("DOCK-2", "DOCK", LocationKind::Dock, None, None, Some(12)),
        (
            "STAGE-1",
            "STAGE",
            LocationKind::Staging,
            Some(20000),
            None,
            Some(24),
        ),
        ("YARD-1", "YARD", LocationKind::Yard, None, None, Some(200)),
    ];
    spec.iter()
        .map(|&(code, zone, kind, volume_l, weight_kg, pallets)| {
            Ok(Location {
                code: LocationCode::parse(code)?,
                zone: zone.to_owned(),
                kind,
                capacity: Capacity {
                    volume_l,
                    weight_kg,
                    pallets,
                },
            })
        })
        .collect()
}

fn articles() -> anyhow::Result<Vec<Article>> {
    // (sku, name, unit, gtin, nsn, class, classification, weight g, volume ml, lot-tracked)
    type Spec<'a> = (
        &'a str,
        &'a str,
        Unit,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Classification,
        Option<i64>,
        Option<i64>,
        bool,
    );
    let spec: &[Spec] = &[
        (
            "RATION-EPA",
            "Einmannpackung (ration, 1 day)",
            Unit::Box,
            Some("80614141123458"),
            None,
            Some("I"),
            Classification::Open,
            Some(1800),
            Some(4000),
            true,
        ),
        (
            "WATER-1L5",
            "Drinking water 1.5 l",
            Unit::Piece,
            Some("4006381333931"),
            None,
            Some("I"),
            Classification::Open,
            Some(1550),
            Some(1600),
            false,
        ),
        (
            "DIESEL-F54",
            "Diesel fuel F-54",
            Unit::Litre,
            None,
            Some("9140-12-345-6789"),
            Some("III"),
            Classification::Open,
            Some(840),
            Some(1000),
            false,
        ),
        (
            "TIRE-395-85",
            "Tyre 395/85 R20",
            Unit::Piece,
            None,
            Some("2610-12-198-7354"),
            Some("IX"),
            Classification::Open,
            Some(98000),
            Some(230000),
            false,
        ),
        (
            "VALVE-2510",
            "Valve assembly",
            Unit::Piece,
            None,
            Some("2510-01-028-8573"),
            Some("IX"),
            Classification::Open,
            Some(2300),
            Some(3000),
            false,
        ),
        (
            "MEDKIT-IFAK",
            "Individual first aid kit",
            Unit::Piece,
            None,
            None,
            Some("VIII"),
            Classification::Open,
            Some(450),
            Some(1200),
            true,
        ),
        (
            "PALLET-SANDBAG",
            "Sandbags, pallet of 500",
            Unit::Pallet,
            None,
            None,
            Some("IV"),
            Classification::Open,
            Some(300000),
            Some(1200000),
            false,
        ),
        (
            "AMMO-556-BOX",
            "Cartridge 5.56 mm, box of 840",
            Unit::Box,
            None,
            Some("1305-12-345-0001"),
            Some("V"),
            Classification::Restricted,
            Some(14000),
            Some(12000),
            true,
        ),
    ];
    spec.iter()
        .map(
            |&(sku, name, unit, gtin, nsn, class, classification, weight, volume, lot_tracked)| {
                Ok(Article {
                    sku: Sku::parse(sku)?,
                    name: name.to_owned(),
                    unit,
                    gtin: gtin.map(Gtin::parse).transpose()?,
                    nsn: nsn.map(Nsn::parse).transpose()?,
                    supply_class: class.map(SupplyClass::parse).transpose()?,
                    classification,
                    unit_weight_g: weight,
                    unit_volume_ml: volume,
                    lot_tracked,
                    expiry_tracked: lot_tracked,
                })
            },
        )
        .collect()
}

fn stock() -> Vec<(&'static str, &'static str, i64, Option<&'static str>)> {
    vec![
        ("RATION-EPA", "A-01-01", 120, Some("L2026-10")),
        ("RATION-EPA", "A-01-02", 60, Some("L2026-11")),
        ("WATER-1L5", "A-01-03", 300, None),
        ("DIESEL-F54", "YARD-1", 20000, None),
        ("TIRE-395-85", "B-01-01", 8, None),
        ("VALVE-2510", "A-02-01", 25, None),
        ("MEDKIT-IFAK", "A-02-01", 140, Some("M-0425")),
        ("PALLET-SANDBAG", "STAGE-1", 6, None),
        ("AMMO-556-BOX", "B-01-02", 40, Some("LOT-556-77")),
    ]
}
