//! `/api/v1/articles`: read, list, create and replace articles.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, Problem};
use super::extract::{Authenticated, JsonBody};
use super::{page_limit, AppState};
use crate::domain::article::{Article, ArticleDraft};

/// An article as sent and answered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleBody {
    /// `[A-Za-z0-9._-]{1,64}`; on PUT it may be left out (the path names it).
    #[serde(default)]
    pub sku: Option<String>,
    pub name: String,
    /// `piece`, `kg`, `l`, `m`, `box` or `pallet`.
    pub unit: String,
    /// GTIN-8/12/13/14 with a valid check digit.
    #[serde(default)]
    pub gtin: Option<String>,
    /// NATO stock number, 13 digits (`NNNN-NN-NNN-NNNN` accepted and answered).
    #[serde(default)]
    pub nsn: Option<String>,
    /// NATO supply class I–V or US I–X.
    #[serde(default)]
    pub supply_class: Option<String>,
    /// `open` (default) or `restricted`.
    #[serde(default)]
    pub classification: Option<String>,
    #[serde(default)]
    pub unit_weight_g: Option<i64>,
    #[serde(default)]
    pub unit_volume_ml: Option<i64>,
    #[serde(default)]
    pub lot_tracked: Option<bool>,
    #[serde(default)]
    pub expiry_tracked: Option<bool>,
}

impl ArticleBody {
    /// The answer form of an article.
    pub fn from_article(article: &Article) -> Self {
        Self {
            sku: Some(article.sku.to_string()),
            name: article.name.clone(),
            unit: article.unit.as_str().to_owned(),
            gtin: article.gtin.as_ref().map(|g| g.as_str().to_owned()),
            nsn: article.nsn.as_ref().map(ToString::to_string),
            supply_class: article.supply_class.as_ref().map(|c| c.as_str().to_owned()),
            classification: Some(article.classification.as_str().to_owned()),
            unit_weight_g: article.unit_weight_g,
            unit_volume_ml: article.unit_volume_ml,
            lot_tracked: Some(article.lot_tracked),
            expiry_tracked: Some(article.expiry_tracked),
        }
    }

    /// The draft the façade's parsing checks.
    pub fn into_draft(self) -> ArticleDraft {
        ArticleDraft {
            sku: self.sku,
            name: self.name,
            unit: self.unit,
            gtin: self.gtin,
            nsn: self.nsn,
            supply_class: self.supply_class,
            classification: self.classification,
            unit_weight_g: self.unit_weight_g,
            unit_volume_ml: self.unit_volume_ml,
            lot_tracked: self.lot_tracked,
            expiry_tracked: self.expiry_tracked,
        }
    }
}

/// A page of articles.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticlePage {
    pub items: Vec<ArticleBody>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Keyset paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Answer items after this key.
    pub after: Option<String>,
    /// 1–1000, default 100.
    pub limit: Option<i64>,
}

/// Lists the articles the caller may see.
#[utoipa::path(get, path = "/api/v1/articles", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ArticlePage), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<PageQuery>,
) -> Result<Json<ArticlePage>, ApiError> {
    let limit = page_limit(query.limit)?;
    let articles = state
        .depot
        .articles(&caller, query.after.as_deref().unwrap_or(""), limit)
        .await?;
    let next_after = (articles.len() as i64 == limit)
        .then(|| articles.last().map(|a| a.sku.to_string()))
        .flatten();
    Ok(Json(ArticlePage {
        items: articles.iter().map(ArticleBody::from_article).collect(),
        next_after,
    }))
}

/// One article; a restricted article is 404 to a caller without clearance.
#[utoipa::path(get, path = "/api/v1/articles/{sku}", security(("bearer" = [])),
    responses((status = 200, body = ArticleBody), (status = 404, body = Problem)))]
pub async fn read(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(sku): Path<String>,
) -> Result<Json<ArticleBody>, ApiError> {
    let article = state.depot.article(&caller, &sku).await?;
    Ok(Json(ArticleBody::from_article(&article)))
}

/// Creates an article (managers); 409 if the SKU exists.
#[utoipa::path(post, path = "/api/v1/articles", request_body = ArticleBody, security(("bearer" = [])),
    responses((status = 201, body = ArticleBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    body: JsonBody<ArticleBody>,
) -> Result<Response, ApiError> {
    let article = body.value.into_draft().parse(None)?;
    state.depot.create_article(&caller, article.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(ArticleBody::from_article(&article)),
    )
        .into_response())
}

/// Creates or replaces an article (managers): 201 when new, 200 when replaced.
#[utoipa::path(put, path = "/api/v1/articles/{sku}", request_body = ArticleBody, security(("bearer" = [])),
    responses((status = 200, body = ArticleBody), (status = 201, body = ArticleBody), (status = 422, body = Problem)))]
pub async fn replace(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(sku): Path<String>,
    body: JsonBody<ArticleBody>,
) -> Result<Response, ApiError> {
    let article = body.value.into_draft().parse(Some(&sku))?;
    let created = state.depot.put_article(&caller, article.clone()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ArticleBody::from_article(&article))).into_response())
}
