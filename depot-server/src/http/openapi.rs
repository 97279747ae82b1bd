//! The OpenAPI 3.1 document, generated from the handlers' annotations, plus
//! the answers every `/api/` operation shares (429, 401) added in one place.

use axum::Json;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, Ref, Type};
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
        deliveries::create, deliveries::read,
        uplink::uplink,
    ),
    components(schemas(error::Problem, error::FieldProblem)),
    modifiers(&BearerAuth, &AbuseResponses)
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

/// Adds what every `/api/` operation may answer because of `http::limits`
/// and the token check, in one place rather than on each handler: 429 with
/// `Retry-After`, and 401 (also for an expired token).
struct AbuseResponses;

impl Modify for AbuseResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let problem = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build()
        };
        let too_many = ResponseBuilder::new()
            .description(
                "Too many requests with this token or from this address \
                 (`urn:depot-edge:problem:rate-limited`); retry after `Retry-After` seconds",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Object::with_type(Type::Integer))
                    .description(Some("Seconds until a request is allowed again"))
                    .build(),
            )
            .content(error::PROBLEM_JSON, problem())
            .build();
        let unauthorized = ResponseBuilder::new()
            .description(
                "No token, one that is not valid (`urn:depot-edge:problem:unauthorized`), or an \
                 expired one (`urn:depot-edge:problem:token-expired`)",
            )
            .content(error::PROBLEM_JSON, problem())
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/") {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses.insert("429".into(), too_many.clone().into());
                responses.insert("401".into(), unauthorized.clone().into());
            }
        }
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
