//! Managed numbers: search the provider's inventory, and buy a number, which lands on the
//! org's managed trunk (created on first purchase) and in the directory.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::error::{Body, Params};
use super::{commit, now, ApiError, AppState};
use crate::directory::model::{InboundConfig, PhoneNumber, Trunk};
use crate::directory::Object;
use crate::provider::{AvailableNumber, ProviderError, SearchQuery};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseBody {
    pub phone_number: Option<String>,
}

pub async fn search(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<SearchQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.can_read("phone_numbers")?;
    // Providers may block on HTTP: keep them off the async workers.
    let provider = state.provider.clone();
    let found: Vec<AvailableNumber> = tokio::task::spawn_blocking(move || provider.search(&q))
        .await
        .map_err(|_| ApiError::Conflict("the search was interrupted".into()))?
        .map_err(provider_error)?;
    Ok(Json(serde_json::json!({ "data": found })))
}

pub async fn purchase(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<PurchaseBody>,
) -> Result<(StatusCode, Json<PhoneNumber>), ApiError> {
    caller.can_manage("managed_accounts")?;
    let raw = body
        .phone_number
        .ok_or_else(|| ApiError::invalid("phone_number", "phone_number is required"))?;
    let e164 = super::numbers::written(&state, "phone_number", &raw)?;
    let snapshot = state.directory.snapshot();
    super::numbers::check_room(&snapshot, &caller, &e164, state.config.max_numbers_per_org)?;
    let provider = state.provider.clone();
    let bought = e164.clone();
    tokio::task::spawn_blocking(move || provider.purchase(&bought))
        .await
        .map_err(|_| ApiError::Conflict("the purchase was interrupted".into()))?
        .map_err(provider_error)?;
    let stamp = now();
    let mut puts = Vec::new();
    let trunk_id = match snapshot
        .trunks
        .values()
        .find(|t| t.org_id == caller.org_id && t.is_managed())
    {
        Some(trunk) => trunk.id.clone(),
        None => {
            let trunk = Trunk {
                id: format!("trk_{}", uuid::Uuid::new_v4().simple()),
                org_id: caller.org_id.clone(),
                name: "Managed".into(),
                managed_account_id: Some(state.provider.account_id().to_owned()),
                inbound_config: InboundConfig::default(),
                outbound_config: None,
                created_at: stamp.clone(),
                updated_at: stamp.clone(),
            };
            let id = trunk.id.clone();
            puts.push(Object::Trunk(trunk));
            id
        }
    };
    let number = PhoneNumber {
        id: format!("pn_{}", uuid::Uuid::new_v4().simple()),
        org_id: caller.org_id.clone(),
        phone_number: e164,
        trunk_id,
        inbound_agent_version_id: None,
        outbound_agent_version_id: None,
        outbound_shareable: false,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    puts.push(Object::PhoneNumber(number.clone()));
    commit(&state, puts, vec![]).await?;
    Ok((StatusCode::CREATED, Json(number)))
}

pub(super) fn provider_error(err: ProviderError) -> ApiError {
    match err {
        ProviderError::InvalidQuery { field, message } => ApiError::invalid(field, message),
        ProviderError::NotAvailable(n) => {
            ApiError::invalid("phone_number", format!("{n} is not available for purchase"))
        }
        ProviderError::Upstream(message) => ApiError::Conflict(format!("the number provider failed: {message}")),
    }
}

impl super::error::QueryFields for crate::provider::SearchQuery {}
