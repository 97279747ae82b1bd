//! Expected deliveries: registering one (`Command::CreateDelivery`, in the
//! writer), reading one reconciled, and their part of gate ingest: the
//! dock's open deliveries decide the lot of an item a pass brings, and each
//! item booked at such a dock is recorded against a delivery in the pass's
//! savepoint.
//!
//! `domain::delivery` decides (which line, which lot, what is missing);
//! this module loads and writes.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::booking::EpcRef;
use super::DepotError;
use crate::domain::access::Caller;
use crate::domain::article::Sku;
use crate::domain::delivery::{self, Delivery, DeliveryRef, Receipt, Reconciliation};
use crate::domain::location::{LocationCode, LocationKind};
use crate::domain::quantity::Lot;
use crate::domain::FieldError;
use crate::store;

/// Closes delivery `reference`: `Ok(true)` when it was open, `Ok(false)`
/// when it was complete or closed already (a retry); an unknown reference is
/// [`DepotError::NotFound`].
pub(super) async fn close(
    conn: &mut SqliteConnection,
    reference: &DeliveryRef,
    now: OffsetDateTime,
) -> Result<Result<bool, DepotError>, sqlx::Error> {
    let Some(stored) = store::deliveries::get(conn, reference.as_str()).await? else {
        return Ok(Err(DepotError::NotFound {
            what: "delivery",
            key: reference.to_string(),
        }));
    };
    if stored.completed_at.is_some() {
        return Ok(Ok(false));
    }
    store::deliveries::complete(conn, reference, now).await?;
    Ok(Ok(true))
}

/// A delivery with who registered it, and its reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivery: Delivery,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    /// When the last expected unit arrived, or a manager closed it short;
    /// until then the delivery is open.
    pub completed_at: Option<OffsetDateTime>,
    pub reconciliation: Reconciliation,
}

/// Registers `delivery` for `caller`: `Ok(true)` when new, `Ok(false)` when
/// the same notice was registered before (a retry); another notice under a
/// taken reference is [`DepotError::Exists`].
pub(super) async fn create(
    conn: &mut SqliteConnection,
    caller: &Caller,
    delivery: &Delivery,
    now: OffsetDateTime,
) -> Result<Result<bool, DepotError>, sqlx::Error> {
    if let Some(stored) = store::deliveries::get(conn, delivery.reference.as_str()).await? {
        return Ok(if stored.delivery == *delivery {
            Ok(false)
        } else {
            Err(DepotError::Exists {
                what: "delivery",
                key: delivery.reference.to_string(),
            })
        });
    }
    let mut errors = Vec::new();
    match store::locations::get(conn, delivery.dock.as_str()).await? {
        Some(location) if location.kind == LocationKind::Dock => {}
        Some(_) => errors.push(FieldError::new(
            "dock",
            format!("location '{}' is not a dock", delivery.dock),
        )),
        None => errors.push(FieldError::new(
            "dock",
            format!("no location '{}'", delivery.dock),
        )),
    }
    for line in &delivery.lines {
        let article = match &line.expected {
            delivery::Expected::Count { sku, .. } => store::articles::get(conn, sku.as_str())
                .await?
                .filter(|a| caller.sees(a.classification)),
            delivery::Expected::Item { .. } => None,
        };
        if let Err(error) = delivery::check_line_article(line, article.as_ref()) {
            errors.push(error);
        }
    }
    if !errors.is_empty() {
        return Ok(Err(DepotError::Invalid(errors)));
    }
    store::deliveries::insert(conn, delivery, &caller.name, now).await?;
    Ok(Ok(true))
}

/// One delivery reconciled, as the caller may see it: without clearance,
/// no line or receipt of a restricted article.
pub(super) async fn report(
    conn: &mut SqliteConnection,
    caller: &Caller,
    reference: &str,
) -> Result<Option<DeliveryReport>, sqlx::Error> {
    let Some(stored) = store::deliveries::get(conn, reference).await? else {
        return Ok(None);
    };
    let mut delivery = stored.delivery;
    let mut receipts = store::deliveries::receipts(conn, reference).await?;
    if !caller.restricted {
        let mut visible: HashMap<Sku, bool> = HashMap::new();
        let mut skus: Vec<Sku> = receipts.iter().map(|r| r.sku.clone()).collect();
        skus.extend(delivery.lines.iter().filter_map(|l| match &l.expected {
            delivery::Expected::Count { sku, .. } => Some(sku.clone()),
            delivery::Expected::Item { .. } => None,
        }));
        for sku in skus {
            if let Entry::Vacant(slot) = visible.entry(sku) {
                let sees = store::articles::get(conn, slot.key().as_str())
                    .await?
                    .is_some_and(|a| caller.sees(a.classification));
                slot.insert(sees);
            }
        }
        let sees = |sku: &Sku| visible.get(sku).copied().unwrap_or(false);
        let hidden: Vec<u32> = delivery
            .lines
            .iter()
            .filter(|l| matches!(&l.expected, delivery::Expected::Count { sku, .. } if !sees(sku)))
            .map(|l| l.line)
            .collect();
        delivery.lines.retain(|l| !hidden.contains(&l.line));
        receipts.retain(|r| sees(&r.sku));
    }
    let reconciliation = delivery::reconcile(&delivery, &receipts);
    Ok(Some(DeliveryReport {
        delivery,
        created_by: stored.created_by,
        created_at: stored.created_at,
        completed_at: stored.completed_at,
        reconciliation,
    }))
}

/// The open deliveries of the docks one gate read brings items to, loaded
/// once per dock and kept up to date as the read's passes are recorded.
#[derive(Default)]
pub(super) struct OpenDeliveries(HashMap<LocationCode, Vec<(Delivery, Vec<Receipt>)>>);

/// Where an item a pass brings belongs: which delivery (index among its
/// dock's open ones), which line (`None`: unexpected), its article, and
/// the lot to book it with.
pub(super) struct Expectation {
    delivery: usize,
    line: Option<u32>,
    sku: Sku,
    /// The line's lot for a lot-tracked article; none otherwise.
    pub lot: Lot,
}

impl OpenDeliveries {
    /// What the open deliveries at `dock` expect of the item `epc` names
    /// (its article from the item, or from its GTIN); `None` when the dock
    /// expects no delivery or the EPC names no article.
    pub(super) async fn expect(
        &mut self,
        conn: &mut SqliteConnection,
        dock: &LocationCode,
        epc: &EpcRef,
    ) -> Result<Option<Expectation>, sqlx::Error> {
        if !self.0.contains_key(dock) {
            let open = store::deliveries::open_at(conn, dock.as_str()).await?;
            self.0.insert(dock.clone(), open);
        }
        let Some(open) = self.0.get(dock).filter(|open| !open.is_empty()) else {
            return Ok(None);
        };
        let article = match store::ledger::item(conn, &epc.id).await? {
            Some(item) => store::articles::get(conn, item.sku.as_str()).await?,
            None => match &epc.gtin14 {
                Some(gtin14) => store::articles::by_gtin14(conn, gtin14).await?,
                None => None,
            },
        };
        let Some(article) = article else {
            return Ok(None);
        };
        let Some((index, line)) = delivery::match_at_dock(open, &epc.id, &article.sku) else {
            return Ok(None);
        };
        let lot = match &line {
            Some(m) if article.lot_tracked => m.lot.clone(),
            _ => Lot::none(),
        };
        Ok(Some(Expectation {
            delivery: index,
            line: line.map(|m| m.line),
            sku: article.sku,
            lot,
        }))
    }

    /// Records that pass `pass_id` received the item `epc` as `expected`
    /// said, and closes the delivery once all it expected has arrived.
    pub(super) async fn record(
        &mut self,
        conn: &mut SqliteConnection,
        dock: &LocationCode,
        expected: Expectation,
        pass_id: i64,
        epc: &str,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        let Some(open) = self.0.get_mut(dock) else {
            return Ok(());
        };
        let Some((delivery, receipts)) = open.get_mut(expected.delivery) else {
            return Ok(());
        };
        let receipt = Receipt {
            pass_id,
            epc: epc.to_owned(),
            sku: expected.sku,
            lot: expected.lot,
            line: expected.line,
        };
        store::deliveries::insert_receipt(conn, &delivery.reference, &receipt).await?;
        receipts.push(receipt);
        if delivery::reconcile(delivery, receipts).complete() {
            store::deliveries::complete(conn, &delivery.reference, now).await?;
            open.remove(expected.delivery);
        }
        Ok(())
    }
}
