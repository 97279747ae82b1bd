//! `import articles|locations FILE.csv`: all rows or none.
//!
//! The header row names the columns as the API's JSON fields do (`sku,name,unit,gtin,…`,
//! `code,zone,kind,capacity_volume_l,…`). Every bad row is reported with its
//! line number; if any row is bad, nothing is imported.

use std::path::Path;

use serde::Deserialize;

use crate::depot::{self, Depot, DepotError};
use crate::domain::article::ArticleDraft;
use crate::domain::location::LocationDraft;

/// What an import did or why it did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {cause}")]
    Read { path: String, cause: String },
    #[error("nothing imported; {} bad row(s):\n{}", .0.len(), .0.join("\n"))]
    BadRows(Vec<String>),
    #[error("nothing imported: {0}")]
    Depot(#[from] DepotError),
}

/// One row of an article CSV file; the columns are the API's JSON fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArticleRow {
    sku: String,
    name: String,
    unit: String,
    #[serde(default)]
    gtin: Option<String>,
    #[serde(default)]
    nsn: Option<String>,
    #[serde(default)]
    supply_class: Option<String>,
    #[serde(default)]
    classification: Option<String>,
    #[serde(default)]
    unit_weight_g: Option<i64>,
    #[serde(default)]
    unit_volume_ml: Option<i64>,
    #[serde(default)]
    lot_tracked: Option<bool>,
    #[serde(default)]
    expiry_tracked: Option<bool>,
}

/// One row of a location CSV file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationRow {
    code: String,
    zone: String,
    kind: String,
    #[serde(default)]
    capacity_volume_l: Option<i64>,
    #[serde(default)]
    capacity_weight_kg: Option<i64>,
    #[serde(default)]
    capacity_pallets: Option<i64>,
}

/// Imports articles through the depot's writer; returns how many rows were written.
pub async fn articles(depot: &Depot, path: &Path) -> Result<usize, ImportError> {
    let articles = read_rows(path, |row: ArticleRow| {
        ArticleDraft {
            sku: Some(row.sku),
            name: row.name,
            unit: row.unit,
            gtin: row.gtin,
            nsn: row.nsn,
            supply_class: row.supply_class,
            classification: row.classification,
            unit_weight_g: row.unit_weight_g,
            unit_volume_ml: row.unit_volume_ml,
            lot_tracked: row.lot_tracked,
            expiry_tracked: row.expiry_tracked,
        }
        .parse(None)
    })?;
    let operator = depot::operator("import");
    Ok(depot.import_articles(&operator, articles).await?)
}

/// Imports locations through the depot's writer; returns how many rows were written.
pub async fn locations(depot: &Depot, path: &Path) -> Result<usize, ImportError> {
    let locations = read_rows(path, |row: LocationRow| {
        LocationDraft {
            code: Some(row.code),
            zone: row.zone,
            kind: row.kind,
            capacity_volume_l: row.capacity_volume_l,
            capacity_weight_kg: row.capacity_weight_kg,
            capacity_pallets: row.capacity_pallets,
        }
        .parse(None)
    })?;
    let operator = depot::operator("import");
    Ok(depot.import_locations(&operator, locations).await?)
}

/// Reads and validates every row; collects every failure with its line number.
fn read_rows<Row, Value>(
    path: &Path,
    validate: impl Fn(Row) -> Result<Value, Vec<crate::domain::FieldError>>,
) -> Result<Vec<Value>, ImportError>
where
    Row: serde::de::DeserializeOwned,
{
    let read_error = |cause: String| ImportError::Read {
        path: path.display().to_string(),
        cause,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| read_error(e.to_string()))?;
    let mut values = Vec::new();
    let mut bad = Vec::new();
    for (index, record) in reader.deserialize::<Row>().enumerate() {
        // Line 1 is the header.
        let line = index + 2;
        match record {
            Ok(row) => match validate(row) {
                Ok(value) => values.push(value),
                Err(errors) => {
                    let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    bad.push(format!("line {line}: {}", reasons.join("; ")));
                }
            },
            Err(error) => {
                let message = match error.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
                    _ => error.to_string(),
                };
                bad.push(format!("line {line}: {message}"));
            }
        }
    }
    if bad.is_empty() {
        Ok(values)
    } else {
        Err(ImportError::BadRows(bad))
    }
}
