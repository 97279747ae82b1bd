//! The `articles` table.

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::{checked, timestamp};
use crate::domain::article::{Article, Classification, Gtin, Nsn, Sku, SupplyClass, Unit};

/// An `articles` row as stored, before its values are parsed back into domain values.
struct ArticleRow {
    sku: String,
    name: String,
    unit: String,
    gtin: Option<String>,
    nsn: Option<String>,
    supply_class: Option<String>,
    classification: String,
    unit_weight_g: Option<i64>,
    unit_volume_ml: Option<i64>,
    lot_tracked: bool,
    expiry_tracked: bool,
}

impl ArticleRow {
    fn parse(self) -> Result<Article, sqlx::Error> {
        Ok(Article {
            sku: checked("articles", Sku::parse(&self.sku))?,
            name: self.name,
            unit: checked("articles", Unit::parse(&self.unit))?,
            gtin: checked(
                "articles",
                self.gtin.as_deref().map(Gtin::parse).transpose(),
            )?,
            nsn: checked("articles", self.nsn.as_deref().map(Nsn::parse).transpose())?,
            supply_class: checked(
                "articles",
                self.supply_class
                    .as_deref()
                    .map(SupplyClass::parse)
                    .transpose(),
            )?,
            classification: checked("articles", Classification::parse(&self.classification))?,
            unit_weight_g: self.unit_weight_g,
            unit_volume_ml: self.unit_volume_ml,
            lot_tracked: self.lot_tracked,
            expiry_tracked: self.expiry_tracked,
        })
    }
}

// The three reads below select the same columns as `ArticleRow`; `query_as!`
// checks each list against the schema at build time.

/// One article by SKU.
pub async fn get(conn: &mut SqliteConnection, sku: &str) -> Result<Option<Article>, sqlx::Error> {
    sqlx::query_as!(
        ArticleRow,
        r#"SELECT sku, name, unit, gtin, nsn, supply_class, classification, unit_weight_g, unit_volume_ml,
                  lot_tracked AS "lot_tracked: bool", expiry_tracked AS "expiry_tracked: bool"
           FROM articles WHERE sku = ?"#,
        sku
    )
    .fetch_optional(conn)
    .await?
    .map(ArticleRow::parse)
    .transpose()
}

/// The article whose GTIN, as GTIN-14, is `gtin14`.
pub async fn by_gtin14(
    conn: &mut SqliteConnection,
    gtin14: &str,
) -> Result<Option<Article>, sqlx::Error> {
    sqlx::query_as!(
        ArticleRow,
        r#"SELECT sku, name, unit, gtin, nsn, supply_class, classification, unit_weight_g, unit_volume_ml,
                  lot_tracked AS "lot_tracked: bool", expiry_tracked AS "expiry_tracked: bool"
           FROM articles WHERE gtin IS NOT NULL AND gtin14 = ?"#,
        gtin14
    )
    .fetch_optional(conn)
    .await?
    .map(ArticleRow::parse)
    .transpose()
}

/// Articles in SKU order after `after`, at most `limit`; restricted ones only if `restricted`.
pub async fn list(
    conn: &mut SqliteConnection,
    after: &str,
    limit: i64,
    restricted: bool,
) -> Result<Vec<Article>, sqlx::Error> {
    sqlx::query_as!(
        ArticleRow,
        r#"SELECT sku, name, unit, gtin, nsn, supply_class, classification, unit_weight_g, unit_volume_ml,
                  lot_tracked AS "lot_tracked: bool", expiry_tracked AS "expiry_tracked: bool"
           FROM articles WHERE sku > ? AND (? OR classification = 'open') ORDER BY sku LIMIT ?"#,
        after,
        restricted,
        limit
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ArticleRow::parse)
    .collect()
}

/// Inserts or replaces an article; returns whether it was new.
pub async fn upsert(
    conn: &mut SqliteConnection,
    article: &Article,
    at: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let existed = get(&mut *conn, article.sku.as_str()).await?.is_some();
    let now = timestamp(at);
    let sku = article.sku.as_str();
    let unit = article.unit.as_str();
    let gtin = article.gtin.as_ref().map(Gtin::as_str);
    let nsn = article.nsn.as_ref().map(Nsn::digits);
    let supply_class = article.supply_class.as_ref().map(SupplyClass::as_str);
    let classification = article.classification.as_str();
    sqlx::query!(
        "INSERT INTO articles (sku, name, unit, gtin, nsn, supply_class, classification, unit_weight_g, unit_volume_ml, lot_tracked, expiry_tracked, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (sku) DO UPDATE SET name = excluded.name, unit = excluded.unit, gtin = excluded.gtin, nsn = excluded.nsn,
           supply_class = excluded.supply_class, classification = excluded.classification, unit_weight_g = excluded.unit_weight_g,
           unit_volume_ml = excluded.unit_volume_ml, lot_tracked = excluded.lot_tracked, expiry_tracked = excluded.expiry_tracked,
           updated_at = excluded.updated_at",
        sku,
        article.name,
        unit,
        gtin,
        nsn,
        supply_class,
        classification,
        article.unit_weight_g,
        article.unit_volume_ml,
        article.lot_tracked,
        article.expiry_tracked,
        now,
        now,
    )
    .execute(conn)
    .await?;
    Ok(!existed)
}

/// Whether any stock or ledger line refers to the article.
pub async fn has_history(conn: &mut SqliteConnection, sku: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM movements WHERE sku = ?) AS "exists!: bool""#,
        sku
    )
    .fetch_one(conn)
    .await
}
