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
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("storage failed")]
    Storage(#[from] crate::directory::DirectoryError),
}

impl ApiError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            field,
            message: message.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, Option<&'static str>) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::Invalid { field, .. } => (StatusCode::BAD_REQUEST, "invalid_request", Some(field)),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
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
        (status, Json(body)).into_response()
    }
}
