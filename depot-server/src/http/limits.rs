//! Abuse resistance at the HTTP edge: rate limits on `/api/` per credential
//! (the bearer token or the session cookie) and per client address, the
//! stricter per-address limit of the login form (`web::session`), and a
//! timeout per request. The decisions are `domain::rate`'s; this module only
//! keys requests, reads the clock and answers 429 or 503 as problem+json.
//!
//! The client address is the TCP peer ([`ClientAddress`]); `X-Forwarded-For`
//! is never trusted. An IPv6 client is keyed by its /64, the block one host
//! usually holds, so cycling through its addresses buys it nothing.

use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::Problem;
use super::extract::SESSION_COOKIE;
use super::AppState;
use crate::domain::rate::{Decision, Limiter, Rate};
use crate::repeat_log::RepeatLog;

/// Keys tracked per limiter at most: far more clients than a depot has, and
/// about a megabyte at worst.
const MAX_KEYS: usize = 10_000;
/// A key's refusals are logged at most once per this interval.
const LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The TCP peer of a connection, as the listener accepted it (each
/// listener says so with an `axum::extract::connect_info::Connected` impl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub SocketAddr);

/// Which limit refused a request; the `scope` label of
/// `depot_http_rate_limited_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/api/` per credential.
    Token,
    /// `/api/` per client address.
    Address,
    /// The login form per client address.
    Login,
}

impl Scope {
    /// Every scope, for metrics shown from the start.
    pub const ALL: [Scope; 3] = [Scope::Token, Scope::Address, Scope::Login];

    /// Its label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Token => "token",
            Scope::Address => "address",
            Scope::Login => "login",
        }
    }
}

/// What the limits are; `None` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitSettings {
    /// `/api/` per credential.
    pub token: Option<Rate>,
    /// `/api/` per client address.
    pub address: Option<Rate>,
    /// The login form per client address.
    pub login: Option<Rate>,
    /// Until a request's answer starts.
    pub request_timeout: Option<Duration>,
}

/// The limits of one server: three keyed limiters (each absent when its
/// limit is off) and the request timeout.
#[derive(Debug)]
pub struct Limits {
    origin: Instant,
    token: Option<Mutex<Limiter<u64>>>,
    address: Option<Mutex<Limiter<IpAddr>>>,
    login: Option<Mutex<Limiter<IpAddr>>>,
    /// Keys credentials by a hash with a per-process random key, so no
    /// token is kept and a key cannot be aimed at another's slot.
    credential_hasher: std::collections::hash_map::RandomState,
    /// `None` = no timeout.
    pub request_timeout: Option<Duration>,
    timeouts_log: RepeatLog,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(rate: Option<Rate>) -> Option<Mutex<Limiter<K>>> {
    let log_interval_ns = u64::try_from(LOG_INTERVAL.as_nanos()).unwrap_or(u64::MAX);
    rate.map(|rate| Mutex::new(Limiter::new(rate, MAX_KEYS, log_interval_ns)))
}

impl Limits {
    /// Fresh limits: no key has used any of its budget.
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            origin: Instant::now(),
            token: limiter(settings.token),
            address: limiter(settings.address),
            login: limiter(settings.login),
            credential_hasher: std::collections::hash_map::RandomState::new(),
            request_timeout: settings.request_timeout,
            timeouts_log: RepeatLog::new(LOG_INTERVAL),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Decides a login form submission from `address`.
    pub fn check_login(&self, address: Option<ClientAddress>) -> Decision {
        match (&self.login, address) {
            (Some(limiter), Some(ClientAddress(peer))) => {
                let decision = lock(limiter).check(address_key(peer.ip()), self.now_ns());
                log_refusal(Scope::Login, decision, &peer.ip().to_string());
                decision
            }
            _ => Decision::Allowed,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere while holding it; the limiter is whole.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The key of a client address: an IPv4 address (also when mapped into
/// IPv6) as it is, an IPv6 address by its /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// The credential a request carries: its `Authorization` header, else its
/// session cookie.
fn credential(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .or_else(|| super::extract::cookie(headers, SESSION_COOKIE).map(str::as_bytes))
}

/// The peer address axum recorded for the connection (absent for requests
/// made in process, e.g. the watchdog's `/healthz`).
pub fn client_address(request: &Request) -> Option<ClientAddress> {
    request
        .extensions()
        .get::<ConnectInfo<ClientAddress>>()
        .map(|info| info.0)
}

fn log_refusal(scope: Scope, decision: Decision, key: &str) {
    if let Decision::Refused {
        log: Some(unlogged),
        ..
    } = decision
    {
        tracing::warn!(
            scope = scope.as_str(),
            key,
            retry_after_s = decision.retry_after_s(),
            refused_since_last_line = unlogged,
            "rate limit: requests refused with 429 (logged once a minute per key)"
        );
    }
}

/// Middleware of the `/api/` routes: the per-address limit, then the
/// per-credential limit; a refusal is a 429 problem with `Retry-After`.
pub async fn limit_api(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limits = &state.limits;
    let now = limits.now_ns();
    let address = client_address(&request);
    if let (Some(limiter), Some(ClientAddress(peer))) = (&limits.address, address) {
        let decision = lock(limiter).check(address_key(peer.ip()), now);
        if decision != Decision::Allowed {
            log_refusal(Scope::Address, decision, &peer.ip().to_string());
            return too_many_requests(&state, Scope::Address, decision);
        }
    }
    if let (Some(limiter), Some(credential)) = (&limits.token, credential(request.headers())) {
        let key = limits.credential_hasher.hash_one(credential);
        let decision = lock(limiter).check(key, now);
        if decision != Decision::Allowed {
            let who = match address {
                Some(ClientAddress(peer)) => format!("credential {key:016x} from {}", peer.ip()),
                None => format!("credential {key:016x}"),
            };
            log_refusal(Scope::Token, decision, &who);
            return too_many_requests(&state, Scope::Token, decision);
        }
    }
    next.run(request).await
}

/// The 429 answer, counted by scope.
fn too_many_requests(state: &AppState, scope: Scope, decision: Decision) -> Response {
    state.depot.metrics().count_rate_limited(scope.as_str());
    let retry_after_s = decision.retry_after_s();
    let whose = match scope {
        Scope::Token => "with this credential",
        Scope::Address | Scope::Login => "from this address",
    };
    let problem = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        format!("too many requests {whose}; retry after {retry_after_s} s"),
    )
    .with("retry_after_s", retry_after_s);
    with_retry_after(problem.into_response(), retry_after_s)
}

/// Adds `Retry-After: SECONDS`.
pub fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Middleware of every route: a request whose answer has not started
/// within the timeout gets 503 problem+json, and its handler is dropped.
/// Only the time to the answer's head counts, so a stream (SSE) that has
/// started runs on. A booking cut off this way may still be committed by the
/// writer; a retry with the same Idempotency-Key answers what it became.
pub async fn timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limit) = state.limits.request_timeout else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let metrics = state.depot.metrics();
            metrics.http_request_timeouts.inc();
            metrics.count_response(StatusCode::SERVICE_UNAVAILABLE.as_u16());
            if let Some(unlogged) = state.limits.timeouts_log.note("request timeout") {
                tracing::warn!(
                    %path,
                    timeout_ms = limit.as_millis(),
                    timed_out_since_last_line = unlogged,
                    "a request timed out: answered 503"
                );
            }
            let problem = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the server did not answer within {} ms; retry later (a booking with the same \
                     Idempotency-Key is booked at most once)",
                    limit.as_millis()
                ),
            );
            with_retry_after(problem.into_response(), 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_by_ipv4_or_ipv6_slash_64() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
    }

    #[test]
    fn the_credential_is_the_bearer_token_else_the_session_cookie() {
        let mut headers = HeaderMap::new();
        assert_eq!(credential(&headers), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("depot_session=abc"),
        );
        assert_eq!(credential(&headers), Some(&b"abc"[..]));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        assert_eq!(credential(&headers), Some(&b"Bearer t"[..]));
    }
}
