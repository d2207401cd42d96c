//! `/core/api-keys`: an org makes, lists and revokes its own API keys. A key is shown once,
//! in the answer that makes it; only its SHA-256 is stored, and a deleted key is refused
//! by the very next request (the snapshot is swapped before DELETE answers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{Body, Params, Segment};
use super::page::{Page, PageQuery};
use super::{commit, now, ApiError, AppState};
use crate::directory::model::ApiKey;
use crate::directory::{hash_api_key, new_api_key, Object, AREAS};
use crate::store::Kind;

/// The body of POST.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    pub name: Option<String>,
    /// `read` or `manage` (every area), or `<area>:read` / `<area>:manage`.
    pub scopes: Option<Vec<String>>,
}

/// A key as listed: never its secret nor its hash.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
}

/// The answer to POST: the key itself, this once.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub view: KeyView,
    pub key: String,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> KeyView {
        KeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            scopes: k.scopes.clone(),
            created_at: k.created_at.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    #[serde(flatten)]
    pub page: PageQuery,
}

impl super::error::QueryFields for KeyQuery {
    const FIELDS: &'static [&'static str] = super::page::PAGE_FIELDS;
}

pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<KeyQuery>,
) -> Result<Json<Page<KeyView>>, ApiError> {
    caller.can_read("api_keys")?;
    let snapshot = state.directory.snapshot();
    let items: Vec<KeyView> = snapshot
        .api_keys
        .values()
        .filter(|k| k.org_id == caller.org_id)
        .filter(|k| q.page.in_range(&k.created_at, &k.created_at))
        .map(KeyView::from)
        .collect();
    Ok(Json(q.page.paginate(items, |k| (k.created_at.clone(), k.id.clone()))?))
}

pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<KeyBody>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    caller.can_manage("api_keys")?;
    let name = match body.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() && name.len() <= 200 => name.to_owned(),
        _ => return Err(ApiError::invalid("name", "name is required (1 to 200 characters)")),
    };
    let scopes = expand_scopes(body.scopes.as_deref().unwrap_or_default())?;
    // A key never holds more than the key that made it.
    if let Some(beyond) = scopes.iter().find(|s| !caller.holds(s)) {
        return Err(ApiError::invalid(
            "scopes",
            format!("scope {beyond} is beyond the scopes of the key making it"),
        ));
    }
    let key = new_api_key();
    let stored = ApiKey {
        id: format!("key_{}", uuid::Uuid::new_v4().simple()),
        org_id: caller.org_id.clone(),
        name,
        hash: hash_api_key(&key),
        scopes,
        created_at: now(),
    };
    commit(&state, vec![Object::ApiKey(stored.clone())], vec![]).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            view: KeyView::from(&stored),
            key,
        }),
    ))
}

pub async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Segment(id): Segment<String>,
) -> Result<StatusCode, ApiError> {
    caller.can_manage("api_keys")?;
    let owned = state
        .directory
        .snapshot()
        .api_keys
        .values()
        .any(|k| k.id == id && k.org_id == caller.org_id);
    if !owned {
        return Err(ApiError::NotFound("API key"));
    }
    commit(&state, vec![], vec![(Kind::ApiKey, id)]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `read` / `manage` stand for every area; `<area>:read` / `<area>:manage` for one.
/// Sorted, without duplicates; at least one.
pub fn expand_scopes(asked: &[String]) -> Result<Vec<String>, ApiError> {
    if asked.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            "scopes is required: read, manage, or <area>:read / <area>:manage",
        ));
    }
    let mut scopes = Vec::new();
    for scope in asked {
        match scope.as_str() {
            "read" | "manage" => scopes.extend(AREAS.iter().map(|a| format!("{a}:{scope}"))),
            _ => {
                let valid = scope
                    .split_once(':')
                    .is_some_and(|(area, level)| AREAS.contains(&area) && (level == "read" || level == "manage"));
                if !valid {
                    return Err(ApiError::invalid(
                        "scopes",
                        format!(
                            "unknown scope {scope:?}: use read, manage, or <area>:read / <area>:manage with area one of {}",
                            AREAS.join(", ")
                        ),
                    ));
                }
                scopes.push(scope.clone());
            }
        }
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_manage_stand_for_every_area() {
        let read = expand_scopes(&["read".into()]).unwrap();
        assert_eq!(read.len(), AREAS.len());
        assert!(read.contains(&"trunks:read".to_owned()));
        assert_eq!(
            expand_scopes(&["calls:read".into(), "calls:read".into()]).unwrap(),
            vec!["calls:read"]
        );
        assert!(expand_scopes(&[]).is_err());
        assert!(expand_scopes(&["admin".into()]).is_err());
        assert!(expand_scopes(&["trunks:write".into()]).is_err());
    }
}
