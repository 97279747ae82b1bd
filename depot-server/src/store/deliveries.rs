//! Expected deliveries, their lines and the receipts recorded against them
//! at the gate (`migrations/0006_deliveries.sql`).

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::{checked, corrupt, timestamp};
use crate::domain::article::Sku;
use crate::domain::delivery::{Delivery, DeliveryRef, Expected, ExpectedLine, Receipt};
use crate::domain::location::LocationCode;
use crate::domain::quantity::{Lot, Quantity};
use crate::domain::FieldError;

/// A delivery as stored, with who registered it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    pub delivery: Delivery,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
}

/// Stores a new delivery and its lines; fails on the primary key if the
/// reference is taken (the writer looks first).
pub async fn insert(
    conn: &mut SqliteConnection,
    delivery: &Delivery,
    created_by: &str,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let (reference, dock, created_at) = (
        delivery.reference.as_str(),
        delivery.dock.as_str(),
        timestamp(at),
    );
    sqlx::query!(
        "INSERT INTO deliveries (reference, dock, created_by, created_at) VALUES (?, ?, ?, ?)",
        reference,
        dock,
        created_by,
        created_at,
    )
    .execute(&mut *conn)
    .await?;
    for line in &delivery.lines {
        let number = i64::from(line.line);
        let (epc, sku, quantity) = match &line.expected {
            Expected::Item { epc } => (Some(epc.as_str()), None, 1),
            Expected::Count { sku, quantity } => (None, Some(sku.as_str()), quantity.get()),
        };
        let lot = line.lot.as_str();
        sqlx::query!(
            "INSERT INTO delivery_lines (reference, line, epc, sku, quantity, lot) VALUES (?, ?, ?, ?, ?, ?)",
            reference,
            number,
            epc,
            sku,
            quantity,
            lot,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One delivery by reference, with its lines.
pub async fn get(
    conn: &mut SqliteConnection,
    reference: &str,
) -> Result<Option<StoredDelivery>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        "SELECT reference, dock, created_by, created_at, completed_at FROM deliveries WHERE reference = ?",
        reference
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let lines = lines(conn, &row.reference).await?;
    let table = "deliveries";
    Ok(Some(StoredDelivery {
        delivery: Delivery {
            reference: checked(table, DeliveryRef::parse(&row.reference))?,
            dock: checked(table, LocationCode::parse(&row.dock))?,
            lines,
        },
        created_by: row.created_by,
        created_at: time_of(table, &row.created_at)?,
        completed_at: row.completed_at.map(|at| time_of(table, &at)).transpose()?,
    }))
}

/// The open deliveries at `dock`, oldest first, each with its receipts.
pub async fn open_at(
    conn: &mut SqliteConnection,
    dock: &str,
) -> Result<Vec<(Delivery, Vec<Receipt>)>, sqlx::Error> {
    let references = sqlx::query_scalar!(
        "SELECT reference FROM deliveries WHERE dock = ? AND completed_at IS NULL
         ORDER BY created_at, reference",
        dock
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut open = Vec::with_capacity(references.len());
    for reference in references {
        let delivery = Delivery {
            reference: checked("deliveries", DeliveryRef::parse(&reference))?,
            dock: checked("deliveries", LocationCode::parse(dock))?,
            lines: lines(conn, &reference).await?,
        };
        open.push((delivery, receipts(conn, &reference).await?));
    }
    Ok(open)
}

async fn lines(
    conn: &mut SqliteConnection,
    reference: &str,
) -> Result<Vec<ExpectedLine>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT line, epc, sku, quantity, lot FROM delivery_lines WHERE reference = ? ORDER BY line",
        reference
    )
    .fetch_all(conn)
    .await?;
    let table = "delivery_lines";
    rows.into_iter()
        .map(|row| {
            let expected = match (row.epc, row.sku) {
                (Some(epc), None) => Expected::Item { epc },
                (None, Some(sku)) => Expected::Count {
                    sku: checked(table, Sku::parse(&sku))?,
                    quantity: checked(table, Quantity::new(row.quantity))?,
                },
                _ => {
                    return Err(corrupt(
                        table,
                        FieldError::new("epc", "needs exactly one of epc and sku"),
                    ))
                }
            };
            Ok(ExpectedLine {
                line: u32::try_from(row.line)
                    .map_err(|_| corrupt(table, FieldError::new("line", "out of range")))?,
                expected,
                lot: checked(table, stored_lot(&row.lot))?,
            })
        })
        .collect()
}

/// The receipts recorded against a delivery, in the order they came.
pub async fn receipts(
    conn: &mut SqliteConnection,
    reference: &str,
) -> Result<Vec<Receipt>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT pass_id AS "pass_id!: i64", line, epc, sku, lot FROM delivery_receipts WHERE reference = ? ORDER BY pass_id"#,
        reference
    )
    .fetch_all(conn)
    .await?;
    let table = "delivery_receipts";
    rows.into_iter()
        .map(|row| {
            Ok(Receipt {
                pass_id: row.pass_id,
                epc: row.epc,
                sku: checked(table, Sku::parse(&row.sku))?,
                lot: checked(table, stored_lot(&row.lot))?,
                line: row
                    .line
                    .map(|n| {
                        u32::try_from(n)
                            .map_err(|_| corrupt(table, FieldError::new("line", "out of range")))
                    })
                    .transpose()?,
            })
        })
        .collect()
}

/// Records what pass `receipt.pass_id` received against `reference`.
pub async fn insert_receipt(
    conn: &mut SqliteConnection,
    reference: &DeliveryRef,
    receipt: &Receipt,
) -> Result<(), sqlx::Error> {
    let (reference, sku, lot) = (
        reference.as_str(),
        receipt.sku.as_str(),
        receipt.lot.as_str(),
    );
    let line = receipt.line.map(i64::from);
    sqlx::query!(
        "INSERT INTO delivery_receipts (pass_id, reference, line, epc, sku, lot) VALUES (?, ?, ?, ?, ?, ?)",
        receipt.pass_id,
        reference,
        line,
        receipt.epc,
        sku,
        lot,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a delivery complete: it is no longer open at its dock.
pub async fn complete(
    conn: &mut SqliteConnection,
    reference: &DeliveryRef,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let (reference, at) = (reference.as_str(), timestamp(at));
    sqlx::query!(
        "UPDATE deliveries SET completed_at = ? WHERE reference = ? AND completed_at IS NULL",
        at,
        reference
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored lot: '' is none.
fn stored_lot(text: &str) -> Result<Lot, FieldError> {
    if text.is_empty() {
        Ok(Lot::none())
    } else {
        Lot::parse(text)
    }
}

fn time_of(table: &str, text: &str) -> Result<OffsetDateTime, sqlx::Error> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| corrupt(table, FieldError::new("created_at", e.to_string())))
}
