//! `/api/v1/articles`: read, list, create and replace articles.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::error::{answers, ApiError};
use super::extract::{whole_number, Allowed, Authenticated, JsonBody, MayKeepMasterData};
use super::{openapi, page_limit, AppState};
use crate::domain::article::{Article, ArticleDraft};

/// An article as sent and answered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleBody {
    /// `[A-Za-z0-9._-]{1,64}`; required on POST, on PUT it may be left out
    /// (the path names it; if given, it must be the path's).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub sku: Option<String>,
    /// 1–200 characters, no control characters.
    #[schema(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,200}$")]
    pub name: String,
    #[schema(schema_with = openapi::unit)]
    pub unit: String,
    /// GTIN-8/12/13/14 with a valid check digit; one article per GTIN.
    #[serde(default)]
    #[schema(pattern = "^([0-9]{8}|[0-9]{12,14})$")]
    pub gtin: Option<String>,
    /// NATO stock number, 13 digits (`NNNN-NN-NNN-NNNN` accepted and answered).
    #[serde(default)]
    #[schema(pattern = "^([0-9]{13}|[0-9]{4}-[0-9]{2}-[0-9]{3}-[0-9]{4})$")]
    pub nsn: Option<String>,
    #[serde(default)]
    #[schema(schema_with = openapi::supply_class_or_null)]
    pub supply_class: Option<String>,
    /// `open` (default) or `restricted`.
    #[serde(default)]
    #[schema(schema_with = openapi::classification_or_null)]
    pub classification: Option<String>,
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub unit_weight_g: Option<i64>,
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
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

/// The body of `POST /api/v1/articles` (documentation only; parsed as an
/// [`ArticleBody`]).
pub struct NewArticle;

impl PartialSchema for NewArticle {
    fn schema() -> RefOr<Schema> {
        openapi::key_required(ArticleBody::schema(), "sku", "A new article.")
    }
}

impl ToSchema for NewArticle {}

/// The body of `PUT /api/v1/articles/{sku}` (documentation only; parsed as
/// an [`ArticleBody`]).
pub struct ArticleChange;

impl PartialSchema for ArticleChange {
    fn schema() -> RefOr<Schema> {
        openapi::key_in_path(
            ArticleBody::schema(),
            "sku",
            "An article, its SKU named by the path (a `sku` field must be the path's).",
        )
    }
}

impl ToSchema for ArticleChange {}

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
    #[param(nullable = false)]
    pub after: Option<String>,
    /// 1–1000, default 100.
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Lists the articles the caller may see.
#[utoipa::path(get, path = "/api/v1/articles", operation_id = "listArticles", tag = "articles",
    params(PageQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = ArticlePage, links(
            ("readArticle" = (operation_id = "readArticle", parameters(("sku" = "$response.body#/items/0/sku")))),
            ("replaceArticle" = (operation_id = "replaceArticle", parameters(("sku" = "$response.body#/items/0/sku")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 422, response = answers::Unprocessable), (status = 503, response = answers::Unavailable)))]
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
#[utoipa::path(get, path = "/api/v1/articles/{sku}", operation_id = "readArticle", tag = "articles",
    params(("sku" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$")), security(("bearer" = [])),
    responses((status = 200, body = ArticleBody),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 404, response = answers::NotFound), (status = 503, response = answers::Unavailable)))]
pub async fn read(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(sku): Path<String>,
) -> Result<Json<ArticleBody>, ApiError> {
    let article = state.depot.article(&caller, &sku).await?;
    Ok(Json(ArticleBody::from_article(&article)))
}

/// Creates an article (managers; a restricted one only a cleared manager);
/// 409 if the SKU exists, or the GTIN belongs to another article.
#[utoipa::path(post, path = "/api/v1/articles", operation_id = "createArticle", tag = "articles",
    request_body = NewArticle, security(("bearer" = [])),
    responses(
        (status = 201, body = ArticleBody, links(
            ("readArticle" = (operation_id = "readArticle", parameters(("sku" = "$response.body#/sku")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 409, response = answers::Conflict),
        (status = 413, response = answers::TooLarge), (status = 415, response = answers::UnsupportedMediaType),
        (status = 422, response = answers::Unprocessable), (status = 503, response = answers::Unavailable)))]
pub async fn create(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayKeepMasterData>,
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
#[utoipa::path(put, path = "/api/v1/articles/{sku}", operation_id = "replaceArticle", tag = "articles",
    params(("sku" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$")),
    request_body = ArticleChange, security(("bearer" = [])),
    responses(
        (status = 200, body = ArticleBody, links(
            ("readArticle" = (operation_id = "readArticle", parameters(("sku" = "$request.path.sku")))),
        )),
        (status = 201, body = ArticleBody, links(
            ("readArticle" = (operation_id = "readArticle", parameters(("sku" = "$request.path.sku")))),
        )),
        (status = 400, response = answers::BadRequest), (status = 401, response = answers::Unauthorized),
        (status = 403, response = answers::Forbidden), (status = 409, response = answers::Conflict),
        (status = 413, response = answers::TooLarge), (status = 415, response = answers::UnsupportedMediaType),
        (status = 422, response = answers::Unprocessable), (status = 503, response = answers::Unavailable)))]
pub async fn replace(
    State(state): State<AppState>,
    Allowed(caller, _): Allowed<MayKeepMasterData>,
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
