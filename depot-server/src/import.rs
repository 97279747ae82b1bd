//! `import articles|locations FILE.csv`: all rows or none.
//!
//! The header row names the columns as the API's JSON fields do (`sku,name,unit,gtin,…`,
//! `code,zone,kind,capacity_volume_l,…`). Every bad row is reported with its
//! line number; if any row is bad, nothing is imported.

use std::path::Path;

use sqlx::SqlitePool;
use time::OffsetDateTime;

use crate::http::articles::ArticleBody;
use crate::http::locations::LocationBody;
use crate::store;

/// What an import did or why it did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {cause}")]
    Read { path: String, cause: String },
    #[error("nothing imported; {} bad row(s):\n{}", .0.len(), .0.join("\n"))]
    BadRows(Vec<String>),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

/// Imports articles; returns how many rows were written.
pub async fn articles(pool: &SqlitePool, path: &Path) -> Result<usize, ImportError> {
    let articles = read_rows(path, |body: ArticleBody| body.into_article(None))?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let now = OffsetDateTime::now_utc();
    for article in &articles {
        store::articles::upsert(&mut tx, article, now).await?;
    }
    tx.commit().await?;
    Ok(articles.len())
}

/// Imports locations; returns how many rows were written.
pub async fn locations(pool: &SqlitePool, path: &Path) -> Result<usize, ImportError> {
    let locations = read_rows(path, |body: LocationBody| body.into_location(None))?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let now = OffsetDateTime::now_utc();
    for location in &locations {
        store::locations::upsert(&mut tx, location, now).await?;
    }
    tx.commit().await?;
    Ok(locations.len())
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
