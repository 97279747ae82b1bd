//! The `articles` table.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use super::{checked, timestamp};
use crate::domain::article::{Article, Classification, Gtin, Nsn, Sku, SupplyClass, Unit};

const COLUMNS: &str = "sku, name, unit, gtin, nsn, supply_class, classification, unit_weight_g, unit_volume_ml, lot_tracked, expiry_tracked";

fn from_row(row: &SqliteRow) -> Result<Article, sqlx::Error> {
    let optional = |name: &str| row.try_get::<Option<&str>, _>(name);
    Ok(Article {
        sku: checked("articles", Sku::parse(row.try_get("sku")?))?,
        name: row.try_get("name")?,
        unit: checked("articles", Unit::parse(row.try_get("unit")?))?,
        gtin: checked("articles", optional("gtin")?.map(Gtin::parse).transpose())?,
        nsn: checked("articles", optional("nsn")?.map(Nsn::parse).transpose())?,
        supply_class: checked(
            "articles",
            optional("supply_class")?
                .map(SupplyClass::parse)
                .transpose(),
        )?,
        classification: checked(
            "articles",
            Classification::parse(row.try_get("classification")?),
        )?,
        unit_weight_g: row.try_get("unit_weight_g")?,
        unit_volume_ml: row.try_get("unit_volume_ml")?,
        lot_tracked: row.try_get("lot_tracked")?,
        expiry_tracked: row.try_get("expiry_tracked")?,
    })
}

/// One article by SKU.
pub async fn get(conn: &mut SqliteConnection, sku: &str) -> Result<Option<Article>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM articles WHERE sku = ?"))
        .bind(sku)
        .fetch_optional(conn)
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// The article whose GTIN, as GTIN-14, is `gtin14`.
pub async fn by_gtin14(
    conn: &mut SqliteConnection,
    gtin14: &str,
) -> Result<Option<Article>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM articles WHERE gtin IS NOT NULL AND gtin14 = ?"
    ))
    .bind(gtin14)
    .fetch_optional(conn)
    .await?
    .map(|row| from_row(&row))
    .transpose()
}

/// Articles in SKU order after `after`, at most `limit`; restricted ones only if `restricted`.
pub async fn list(
    conn: &mut SqliteConnection,
    after: &str,
    limit: i64,
    restricted: bool,
) -> Result<Vec<Article>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM articles WHERE sku > ? AND (? OR classification = 'open') ORDER BY sku LIMIT ?"
    ))
    .bind(after)
    .bind(restricted)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Inserts or replaces an article; returns whether it was new.
pub async fn upsert(
    conn: &mut SqliteConnection,
    article: &Article,
    at: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let existed = get(&mut *conn, article.sku.as_str()).await?.is_some();
    let now = timestamp(at);
    sqlx::query(
        "INSERT INTO articles (sku, name, unit, gtin, nsn, supply_class, classification, unit_weight_g, unit_volume_ml, lot_tracked, expiry_tracked, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (sku) DO UPDATE SET name = excluded.name, unit = excluded.unit, gtin = excluded.gtin, nsn = excluded.nsn,
           supply_class = excluded.supply_class, classification = excluded.classification, unit_weight_g = excluded.unit_weight_g,
           unit_volume_ml = excluded.unit_volume_ml, lot_tracked = excluded.lot_tracked, expiry_tracked = excluded.expiry_tracked,
           updated_at = excluded.updated_at",
    )
    .bind(article.sku.as_str())
    .bind(&article.name)
    .bind(article.unit.as_str())
    .bind(article.gtin.as_ref().map(Gtin::as_str))
    .bind(article.nsn.as_ref().map(Nsn::digits))
    .bind(article.supply_class.as_ref().map(SupplyClass::as_str))
    .bind(article.classification.as_str())
    .bind(article.unit_weight_g)
    .bind(article.unit_volume_ml)
    .bind(article.lot_tracked)
    .bind(article.expiry_tracked)
    .bind(&now)
    .bind(&now)
    .execute(conn)
    .await?;
    Ok(!existed)
}

/// Whether any stock or ledger line refers to the article.
pub async fn has_history(conn: &mut SqliteConnection, sku: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM movements WHERE sku = ?)")
        .bind(sku)
        .fetch_one(conn)
        .await
}
