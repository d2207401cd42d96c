//! API errors: one enum, one place that turns each into an HTTP status and the documented
//! JSON body `{"error": {"code", "message", "field"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Why an API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("the API key lacks the scope {0}")]
    Forbidden(&'static str),
    #[error("an org API key acts for its own org only; X-Org-Id names another")]
    OtherOrg,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no such endpoint: {0}")]
    NoRoute(String),
    #[error("{method} is not allowed here; allowed: {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{message}")]
    Invalid {
        field: std::borrow::Cow<'static, str>,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    /// The directory refused the change (a rule checked inside the commit, or a store
    /// constraint): 409, naming the field.
    #[error("{0}")]
    Refused(crate::directory::Violation),
    /// 429, with `Retry-After` in seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("storage failed")]
    Storage(crate::directory::DirectoryError),
}

impl From<crate::directory::DirectoryError> for ApiError {
    fn from(err: crate::directory::DirectoryError) -> ApiError {
        match err {
            crate::directory::DirectoryError::Refused(violation) => ApiError::Refused(violation),
            other => ApiError::Storage(other),
        }
    }
}

impl ApiError {
    pub fn invalid(field: impl Into<std::borrow::Cow<'static, str>>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, Option<&str>) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::OtherOrg => (StatusCode::FORBIDDEN, "forbidden", Some("X-Org-Id")),
            ApiError::NotFound(_) | ApiError::NoRoute(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None),
            ApiError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", Some("body")),
            ApiError::Invalid { field, .. } => (StatusCode::BAD_REQUEST, "invalid_request", Some(field.as_ref())),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            ApiError::Refused(violation) => (StatusCode::CONFLICT, "conflict", Some(violation.field)),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", None),
            ApiError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, field) = self.parts();
        if let ApiError::Storage(err) = &self {
            tracing::error!(%err, "API write failed");
        }
        let body = serde_json::json!({ "error": { "code": code, "message": self.to_string(), "field": field } });
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after_secs, .. } = &self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, (*retry_after_secs).into());
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: say which scheme would do.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"switchboard\""),
            );
        }
        response
    }
}

/// The largest request body accepted (axum's default limit, named here so errors can say it).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Responses the framework makes itself (no route, a method the route lacks, a body over
/// the limit) in the API's JSON error envelope, like every other error; `Allow` is kept.
pub async fn envelope(method: axum::http::Method, uri: axum::http::Uri, response: Response) -> Response {
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        return response;
    }
    let error = match response.status() {
        StatusCode::NOT_FOUND => ApiError::NoRoute(uri.path().chars().take(200).collect()),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed {
            method: method.as_str().chars().take(20).collect(),
            allowed: response
                .headers()
                .get(axum::http::header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        },
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: BODY_LIMIT },
        _ => return response,
    };
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let mut enveloped = error.into_response();
    if let Some(allow) = allow {
        enveloped.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    enveloped
}

/// A JSON body whose every rejection (bad JSON, wrong types, missing Content-Type) is an
/// [`ApiError`] naming the offending field, like every other error of the API.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Body<T>, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT })
            }
            Err(rejection) => Err(rejected("body", &rejection.body_text())),
        }
    }
}

/// Query parameters, likewise.
#[derive(Debug)]
pub struct Params<T>(pub T);

/// The parameters a query type takes, for those whose `#[serde(flatten)]` hides unknown
/// ones from serde (empty: serde sees every field, and reports the rest itself).
pub trait QueryFields {
    const FIELDS: &'static [&'static str] = &[];
}

impl<S, T> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned + QueryFields,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Params<T>, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let mut unknown = Vec::new();
        let parsed = serde_ignored::deserialize(
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes())),
            |path| unknown.push(path.to_string()),
        );
        if !T::FIELDS.is_empty() {
            for (name, _) in form_urlencoded::parse(query.as_bytes()) {
                if !T::FIELDS.contains(&name.as_ref()) && !unknown.iter().any(|u| *u == name) {
                    unknown.push(name.into_owned());
                }
            }
        }
        match parsed {
            // A misspelt parameter (`limt`) is an error naming it, not a silent default.
            Ok(_) if !unknown.is_empty() => Err(ApiError::invalid(
                unknown.join(","),
                format!("unknown query parameter: {}", unknown.join(", ")),
            )),
            Ok(value) => Ok(Params(value)),
            Err(err) => Err(rejected("query", &format!("target type: {err}"))),
        }
    }
}

/// serde's messages start with the path of the field at fault (`outbound_config.address:
/// invalid type...`); use it as the error's field when there is one.
fn rejected(default_field: &'static str, text: &str) -> ApiError {
    let detail = text.split_once("target type: ").map_or(text, |(_, d)| d);
    let field = detail
        .split_once(": ")
        .map(|(path, _)| path)
        .filter(|p| !p.is_empty() && !p.contains(' '));
    match field {
        Some(path) => ApiError::invalid(path.to_owned(), detail.to_owned()),
        None => ApiError::invalid(default_field, detail.to_owned()),
    }
}

/// A path segment, likewise (a segment that is not valid UTF-8 is a 400 JSON error).
#[derive(Debug)]
pub struct Segment<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Segment<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Segment<T>, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Segment(value)),
            Err(rejection) => Err(ApiError::invalid("path", rejection.body_text())),
        }
    }
}

/// A serde_json error on a body parsed by hand.
pub fn rejected_json(err: &serde_json::Error) -> ApiError {
    rejected("body", &format!("target type: {err}"))
}
