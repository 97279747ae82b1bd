//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! the schemas of the fields whose values are the domain's names (units,
//! kinds, states): built from the domain's own lists, so the document cannot
//! drift from what the server accepts and answers.
//!
//! Every operation names each status it can answer; errors are
//! `application/problem+json` [`error::Problem`]s through the shared
//! responses of [`error::answers`], and the answers every `/api/` operation
//! shares because of `http::limits` and the token check (429, 401) are
//! added in one place ([`AbuseResponses`]). `tests/api/master_data.rs`
//! checks the invariants (unique operation ids, every error problem+json),
//! and `tests/api/contract.rs` runs schemathesis against the real server.

use axum::Json;
use serde_json::Value;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, ObjectBuilder, Ref, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};

use super::{
    articles, deliveries, error, gates, health, items, locations, movements, scans, stock, uplink,
};
use crate::domain::article::{Classification, Unit};
use crate::domain::booking::{ItemState, MovementKind, Source};
use crate::domain::gate::{Direction, LinkState, PassOutcome, Waiting, WeightCheck};
use crate::domain::location::LocationKind;

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
    components(
        schemas(error::Problem, error::FieldProblem),
        responses(
            error::answers::BadRequest, error::answers::Unauthorized, error::answers::Forbidden,
            error::answers::NotFound, error::answers::Conflict, error::answers::TooLarge,
            error::answers::UnsupportedMediaType, error::answers::Unprocessable,
            error::answers::Unavailable,
        ),
    ),
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

/// The document as served.
pub fn spec() -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|operations| operations.values_mut())
            .filter_map(|operation| operation.get_mut("responses"))
            .filter_map(Value::as_object_mut)
            .flat_map(|responses| responses.values_mut())
            .filter_map(|response| response.get_mut("links"))
            .filter_map(Value::as_object_mut)
            .flat_map(|links| links.values_mut())
            .filter_map(Value::as_object_mut)
            .for_each(camel_case_link);
    }
    document
}

/// utoipa 5.5 writes a link object's fields in snake case
/// (`operation_id`); OpenAPI spells them `operationId`, `operationRef`
/// and `requestBody`, and clients ignore any other spelling.
fn camel_case_link(link: &mut serde_json::Map<String, Value>) {
    for (snake, camel) in [
        ("operation_id", "operationId"),
        ("operation_ref", "operationRef"),
        ("request_body", "requestBody"),
    ] {
        if let Some(value) = link.remove(snake) {
            link.insert(camel.to_owned(), value);
        }
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(spec())
}

/// A string that is one of `names`, or also `null` when `nullable`.
fn names(names: impl IntoIterator<Item = &'static str>, nullable: bool) -> Object {
    let mut values: Vec<Value> = names.into_iter().map(Value::from).collect();
    let schema_type = if nullable {
        values.push(Value::Null);
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .enum_values(Some(values))
        .build()
}

/// An article's `unit` (required).
pub fn unit() -> Object {
    names(Unit::ALL.iter().map(|v| v.as_str()), false)
}

/// An article's `classification`: `open` when absent or null.
pub fn classification_or_null() -> Object {
    names(Classification::ALL.iter().map(|v| v.as_str()), true)
}

/// A NATO (I–V) or US (I–X) supply class, or null.
pub fn supply_class_or_null() -> Object {
    names(
        ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"],
        true,
    )
}

/// A location's `kind` (required).
pub fn location_kind() -> Object {
    names(LocationKind::ALL.iter().map(|v| v.as_str()), false)
}

/// The kinds a booking may ask for (the transfers are not booked by hand).
pub fn booking_kind() -> Object {
    names(
        [
            MovementKind::Receive,
            MovementKind::Move,
            MovementKind::Issue,
            MovementKind::Adjust,
        ]
        .map(MovementKind::as_str),
        false,
    )
}

/// The sources a booking may name, or null (the adapter's own default).
pub fn booking_source_or_null() -> Object {
    names(
        [Source::Handheld, Source::Web, Source::Api].map(Source::as_str),
        true,
    )
}

/// A ledger movement's kind.
pub fn movement_kind() -> Object {
    names(MovementKind::ALL.iter().map(|v| v.as_str()), false)
}

/// A ledger movement's source.
pub fn movement_source() -> Object {
    names(Source::ALL.iter().map(|v| v.as_str()), false)
}

/// A serialised item's state.
pub fn item_state() -> Object {
    names(ItemState::ALL.iter().map(|v| v.as_str()), false)
}

/// A gate pass's direction of travel.
pub fn direction() -> Object {
    names(Direction::ALL.iter().map(|v| v.as_str()), false)
}

/// What became of a gate pass.
pub fn pass_outcome() -> Object {
    names(PassOutcome::ALL.iter().map(|v| v.as_str()), false)
}

/// What a waiting gate pass waits for (absent when it waits for nothing).
pub fn waiting_for() -> Object {
    names(Waiting::ALL.iter().map(|v| v.as_str()), false)
}

/// The scale's verdict on a gate pass (absent when it could not judge).
pub fn weight_check() -> Object {
    names(WeightCheck::ALL.iter().map(|v| v.as_str()), false)
}

/// A gateway's link state.
pub fn link_state() -> Object {
    names(LinkState::ALL.iter().map(|v| v.as_str()), false)
}

/// The feed's connection state.
pub fn uplink_state() -> Object {
    use crate::depot::LinkState as Uplink;
    names(
        [
            Uplink::Off,
            Uplink::Connecting,
            Uplink::Online,
            Uplink::Offline,
        ]
        .map(Uplink::as_str),
        false,
    )
}

/// `schema` (a derived request body) with its `key` property required and
/// a string, for a POST that must name the new resource.
pub fn key_required(schema: RefOr<Schema>, key: &str, description: &str) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = schema else {
        return schema;
    };
    if let Some(RefOr::T(Schema::Object(property))) = object.properties.get_mut(key) {
        property.schema_type = SchemaType::Type(Type::String);
    }
    object.required.push(key.to_owned());
    object.description = Some(description.to_owned());
    RefOr::T(Schema::Object(object))
}

/// `schema` (a derived request body) without its `key` property, for a PUT
/// whose path names the resource (the server accepts the key in the body
/// only as the path's own, which a schema cannot say).
pub fn key_in_path(schema: RefOr<Schema>, key: &str, description: &str) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = schema else {
        return schema;
    };
    object.properties.remove(key);
    object.required.retain(|name| name != key);
    object.description = Some(description.to_owned());
    RefOr::T(Schema::Object(object))
}
