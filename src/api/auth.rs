//! Who is calling: `Authorization: Bearer ak_...` names an org API key (stored hashed);
//! its scopes decide what it may do. Reads accept `:read` or `:manage`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{ApiError, AppState};

/// The header a user token names its org in.
pub const ORG_HEADER: &str = "x-org-id";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: String,
    scopes: Vec<String>,
}

impl Caller {
    /// Require `area:read` (or `area:manage`).
    pub fn can_read(&self, area: &'static str) -> Result<(), ApiError> {
        let ok = self.scopes.iter().any(|s| {
            s.strip_prefix(area)
                .is_some_and(|rest| rest == ":read" || rest == ":manage")
        });
        ok.then_some(()).ok_or(ApiError::Forbidden(area))
    }

    /// Whether this caller holds `scope` (`area:read` is held by `area:manage` too).
    pub fn holds(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
            || scope
                .strip_suffix(":read")
                .is_some_and(|area| self.scopes.iter().any(|s| s.strip_prefix(area) == Some(":manage")))
    }

    /// Require `area:manage`.
    pub fn can_manage(&self, area: &'static str) -> Result<(), ApiError> {
        let ok = self.scopes.iter().any(|s| s.strip_prefix(area) == Some(":manage"));
        ok.then_some(()).ok_or(ApiError::Forbidden(area))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let (scheme, key) = header.trim().split_once(' ').ok_or(ApiError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized);
        }
        let key = key.trim();
        let snapshot = state.directory.snapshot();
        let hash = crate::directory::hash_api_key(key);
        if key.starts_with("ak_") {
            let found = snapshot.api_keys.get(&hash).ok_or(ApiError::Unauthorized)?;
            // An org key acts for its own org only: naming another is refused, not ignored.
            let named = parts.headers.get(ORG_HEADER).map(|v| v.to_str().unwrap_or_default());
            if named.is_some_and(|org| org != found.org_id) {
                return Err(ApiError::OtherOrg);
            }
            return Ok(Caller {
                org_id: found.org_id.clone(),
                scopes: found.scopes.clone(),
            });
        }
        if key.starts_with("pat_") {
            let token = snapshot.user_tokens.get(&hash).ok_or(ApiError::Unauthorized)?;
            let org = parts
                .headers
                .get(ORG_HEADER)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    ApiError::invalid("X-Org-Id", "user tokens must name the org they act for in X-Org-Id")
                })?;
            // An org the token may not act for looks like one that does not exist.
            if !token.org_ids.iter().any(|o| o == org) {
                return Err(ApiError::NotFound("org"));
            }
            return Ok(Caller {
                org_id: org.to_owned(),
                scopes: token.scopes.clone(),
            });
        }
        Err(ApiError::Unauthorized)
    }
}
