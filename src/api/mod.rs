//! The HTTP listener: the management API (`/core/...`, JSON, org API keys), `/metrics`
//! (Prometheus text exposition), `/healthz` (the process is alive) and `/readyz`
//! (listeners bound, store open, directory loaded, not draining).

mod agents;
mod auth;
mod calls;
mod error;
mod keys;
mod numbers;
pub mod orgs;
mod page;
mod purchase;
mod routing_config;
mod trunks;

pub use error::ApiError;

use crate::directory::{Directory, DirectoryConfig, Object};
use crate::store::Kind;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

/// `[api]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Where the HTTP API and `/metrics` listen; unset disables them.
    pub listen: Option<SocketAddr>,
    /// Collect metrics and serve `/metrics`.
    pub metrics: bool,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            listen: Some(SocketAddr::from(([0, 0, 0, 0], 8080))),
            metrics: true,
        }
    }
}

/// What the health endpoints report on.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
    draining: AtomicBool,
}

impl Health {
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.draining.load(Ordering::Acquire)
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub directory: Arc<Directory>,
    pub config: DirectoryConfig,
    pub health: Arc<Health>,
    pub provider: Arc<dyn crate::provider::NumberProvider>,
    /// Call records, read by `/core/calls`.
    pub calls: Arc<dyn crate::store::CallStore>,
    /// The workflow sandbox: uploads are compiled and checked with it, dry runs run in it.
    pub workflows: Arc<crate::routing::Workflows>,
    /// Compiled workflow artifacts, written at upload.
    pub artifacts: Arc<dyn crate::store::ArtifactStore>,
    /// Whether `/metrics` is served (and metrics are collected at all).
    pub metrics: bool,
    /// `[routing] default_country`: the country of numbers written without `+`.
    pub default_country: String,
    /// Whether managed trunks place calls (`[outbound] managed_termination_host` is set):
    /// assigning an outbound agent to a purchased number is refused, saying why, when not.
    pub managed_outbound: bool,
}

/// The router for the HTTP listener.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    if state.metrics {
        crate::metrics::install();
        router = router.route("/metrics", get(metrics));
    }
    router
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .route("/readyz", get(readyz))
        .route("/core/trunks", get(trunks::list).post(trunks::create))
        .route(
            "/core/trunks/{id}",
            get(trunks::get).put(trunks::update).delete(trunks::delete),
        )
        .route("/core/phone-numbers", get(numbers::list).post(numbers::create))
        .route(
            "/core/phone-numbers/{phone_number}",
            get(numbers::get).patch(numbers::patch).delete(numbers::delete),
        )
        .route("/core/phone-numbers/search", get(purchase::search))
        .route(
            "/core/phone-numbers/purchase-number",
            axum::routing::post(purchase::purchase),
        )
        .route("/core/agents", get(agents::list).post(agents::create))
        .route("/core/agents/{id}", get(agents::get).delete(agents::delete))
        .route(
            "/core/agents/{id}/versions",
            get(agents::list_versions).post(agents::create_version),
        )
        .route("/core/agents/{id}/versions/{version}", get(agents::get_version))
        .route(
            "/core/agents/{id}/versions/{version}/publish",
            axum::routing::post(agents::publish),
        )
        .route(
            "/core/inbound-routing-config/test",
            axum::routing::post(routing_config::test),
        )
        .route(
            "/core/inbound-routing-config",
            get(routing_config::get)
                .put(routing_config::put)
                .patch(routing_config::patch)
                .delete(routing_config::delete),
        )
        .route("/core/api-keys", get(keys::list).post(keys::create))
        .route("/core/api-keys/{id}", axum::routing::delete(keys::delete))
        .route("/core/calls", get(calls::list))
        .route("/core/calls/{id}", get(calls::get))
        .fallback(no_route)
        .layer(axum::middleware::map_response(error::envelope))
        .layer(axum::extract::DefaultBodyLimit::max(error::BODY_LIMIT))
        .layer(axum::middleware::from_fn(count_requests))
        .with_state(state)
}

/// `api_requests_total` by matched route (never the raw path: ids would explode the label
/// set), method (the standard ones, else `other`) and status, and
/// `api_request_duration_seconds`.
async fn count_requests(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Any token is a method to HTTP: name only the ones we know (bounded labels).
    let method = crate::metrics::API_METHODS
        .iter()
        .copied()
        .find(|m| *m == request.method().as_str())
        .unwrap_or("other");
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("api_request_duration_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("api_requests_total", "route" => route, "method" => method, "status" => status).increment(1);
    response
}

/// Commit on the blocking pool (SQLite waits for the disk); the snapshot is swapped
/// before this returns, so routing sees the change before the client gets its 2xx.
async fn commit(state: &AppState, puts: Vec<Object>, deletes: Vec<(Kind, String)>) -> Result<(), ApiError> {
    let directory = state.directory.clone();
    tokio::task::spawn_blocking(move || directory.commit(puts, deletes))
        .await
        .map_err(|_| ApiError::Conflict("the write was interrupted".into()))??;
    Ok(())
}

/// Now, RFC 3339 UTC.
fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Bind and serve until the task is dropped.
pub async fn serve(listen: SocketAddr, state: AppState) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    // The error names the address: "address in use" alone does not say which listener.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|err| std::io::Error::new(err.kind(), format!("HTTP {listen}: {err}")))?;
    let local = listener.local_addr()?;
    let app = router(state);
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(%err, "the HTTP listener stopped");
        }
    });
    Ok((local, task))
}

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
}

/// The API's OpenAPI document (checked in at the repository root).
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
}

async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(uri.path().chars().take(200).collect())
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
