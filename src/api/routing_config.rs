//! `/core/inbound-routing-config`: one per org. The fallback agent and version must exist
//! (and the version be published). The workflow module is stored as given (wasm as base64,
//! or WAT text); compiling and running it is the workflow sandbox's work, and until that
//! exists routing does not consult it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::error::Body;
use super::{commit, now, ApiError, AppState};
use crate::directory::model::RoutingConfig;
use crate::directory::Object;
use crate::store::Kind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub workflow_definition: Option<String>,
    pub fallback_agent_id: Option<String>,
    pub fallback_agent_version: Option<u32>,
    pub tz: Option<String>,
}

fn enabled_by_default() -> bool {
    true
}

pub async fn get(caller: Caller, State(state): State<AppState>) -> Result<Json<RoutingConfig>, ApiError> {
    caller.can_read("agents")?;
    state
        .directory
        .snapshot()
        .routing_configs
        .get(&caller.org_id)
        .cloned()
        .map(Json)
        .ok_or(ApiError::NotFound("inbound routing config"))
}

pub async fn put(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<ConfigBody>,
) -> Result<Json<RoutingConfig>, ApiError> {
    caller.can_manage("agents")?;
    let snapshot = state.directory.snapshot();
    match (&body.fallback_agent_id, body.fallback_agent_version) {
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "fallback_agent_id",
                "fallback_agent_version needs fallback_agent_id",
            ))
        }
        (Some(agent), version) => {
            if snapshot.agents.get(agent).is_none_or(|a| a.org_id != caller.org_id) {
                return Err(ApiError::invalid("fallback_agent_id", "no such agent"));
            }
            let published = snapshot
                .versions
                .values()
                .any(|v| &v.agent_id == agent && v.published && version.is_none_or(|n| v.version == n));
            if !published {
                return Err(ApiError::invalid(
                    "fallback_agent_version",
                    "no such published version of the fallback agent",
                ));
            }
        }
        (None, None) => {}
    }
    let config = RoutingConfig {
        org_id: caller.org_id.clone(),
        enabled: body.enabled,
        workflow_definition: body.workflow_definition,
        fallback_agent_id: body.fallback_agent_id,
        fallback_agent_version: body.fallback_agent_version,
        tz: body.tz,
        updated_at: now(),
    };
    commit(&state, vec![Object::RoutingConfig(config.clone())], vec![]).await?;
    Ok(Json(config))
}

pub async fn delete(caller: Caller, State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    caller.can_manage("agents")?;
    if !state.directory.snapshot().routing_configs.contains_key(&caller.org_id) {
        return Err(ApiError::NotFound("inbound routing config"));
    }
    commit(&state, vec![], vec![(Kind::RoutingConfig, caller.org_id.clone())]).await?;
    Ok(StatusCode::NO_CONTENT)
}
