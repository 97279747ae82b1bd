//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    articles, deliveries, error, gates, health, items, locations, movements, scans, stock, uplink,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Depot Edge API", description = "The depot server's handheld and management API (v1)."),
    paths(
        health::healthz, health::metrics,
        articles::list, articles::read, articles::create, articles::replace,
        locations::list, locations::read, locations::create, locations::replace,
        movements::book, movements::list,
        scans::apply_batch,
        stock::stock, stock::utilization,
        items::read,
        gates::gateways, gates::passes, gates::unresolved, gates::resolve,
        deliveries::create, deliveries::read, deliveries::close,
        uplink::uplink,
    ),
    components(schemas(error::Problem, error::FieldProblem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as a value (also used by tests).
pub fn spec() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}
