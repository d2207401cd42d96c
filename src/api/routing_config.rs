//! `/core/inbound-routing-config`: one per org. PUT replaces the whole config (a field left
//! out is unset), PATCH changes only the fields sent. The fallback agent and version must
//! exist (and the version be published). The workflow module (wasm as base64, or WAT text) is
//! compiled and checked against the ABI at upload, its artifact stored, and a refusal names
//! the fault; the next call runs the new module (calls in progress keep their agent).
//! `POST .../test` is a dry run on a given input: output, decision, fuel and time.

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

/// PUT's body: the whole config. A field left out is unset (PUT replaces; PATCH edits).
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

/// PATCH's body: only the fields sent change; `null` unsets one (RFC 7396's merge patch).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "sent")]
    pub workflow_definition: Option<Option<String>>,
    #[serde(default, deserialize_with = "sent")]
    pub fallback_agent_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "sent")]
    pub fallback_agent_version: Option<Option<u32>>,
    #[serde(default, deserialize_with = "sent")]
    pub tz: Option<Option<String>>,
}

/// A field that is present: `Some(None)` for `null`, `Some(Some(v))` for a value (absent
/// fields stay `None` through `#[serde(default)]`).
fn sent<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
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

/// Replace the org's config (or create it) with exactly the body's fields.
pub async fn put(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<ConfigBody>,
) -> Result<Json<RoutingConfig>, ApiError> {
    caller.can_manage("agents")?;
    let config = RoutingConfig {
        org_id: caller.org_id.clone(),
        enabled: body.enabled,
        workflow_definition: body.workflow_definition,
        fallback_agent_id: body.fallback_agent_id,
        fallback_agent_version: body.fallback_agent_version,
        tz: body.tz,
        updated_at: now(),
    };
    let compile = config.workflow_definition.is_some();
    save(&state, config, compile).await.map(Json)
}

/// Change only the fields sent (`{"enabled": false}` turns routing by workflow off and keeps
/// the module and fallback).
pub async fn patch(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<ConfigPatch>,
) -> Result<Json<RoutingConfig>, ApiError> {
    caller.can_manage("agents")?;
    let Some(mut config) = state.directory.snapshot().routing_configs.get(&caller.org_id).cloned() else {
        return Err(ApiError::NotFound("inbound routing config"));
    };
    if let Some(enabled) = body.enabled {
        config.enabled = enabled;
    }
    let compile = matches!(body.workflow_definition, Some(Some(_)));
    if let Some(definition) = body.workflow_definition {
        config.workflow_definition = definition;
    }
    if let Some(agent) = body.fallback_agent_id {
        config.fallback_agent_id = agent;
    }
    if let Some(version) = body.fallback_agent_version {
        config.fallback_agent_version = version;
    }
    if let Some(tz) = body.tz {
        config.tz = tz;
    }
    config.updated_at = now();
    save(&state, config, compile).await.map(Json)
}

/// Check a config whole (fallback agent and version, time zone; the module compiled when
/// `compile`, i.e. when the request sent one) and commit it.
async fn save(state: &AppState, config: RoutingConfig, compile: bool) -> Result<RoutingConfig, ApiError> {
    check_fallback(state, &config)?;
    if let Some(tz) = &config.tz {
        if jiff::tz::TimeZone::get(tz).is_err() {
            return Err(ApiError::invalid("tz", format!("{tz:?} is not an IANA time zone")));
        }
    }
    if let (true, Some(definition)) = (compile, config.workflow_definition.clone()) {
        compile_module(state, &config.org_id, definition).await?;
    }
    commit(state, vec![Object::RoutingConfig(config.clone())], vec![]).await?;
    Ok(config)
}

/// The fallback agent is the org's and the version (the one named, else any) published.
fn check_fallback(state: &AppState, config: &RoutingConfig) -> Result<(), ApiError> {
    let snapshot = state.directory.snapshot();
    match (&config.fallback_agent_id, config.fallback_agent_version) {
        (None, Some(_)) => Err(ApiError::invalid(
            "fallback_agent_id",
            "fallback_agent_version needs fallback_agent_id",
        )),
        (Some(agent), version) => {
            if snapshot.agents.get(agent).is_none_or(|a| a.org_id != config.org_id) {
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
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

pub async fn delete(caller: Caller, State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    caller.can_manage("agents")?;
    if !state.directory.snapshot().routing_configs.contains_key(&caller.org_id) {
        return Err(ApiError::NotFound("inbound routing config"));
    }
    commit(&state, vec![], vec![(Kind::RoutingConfig, caller.org_id.clone())]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Compile and check a module (off the async threads: a compile takes up to
/// `[workflow] compile_timeout_ms`, in a child process), and store its artifact.
async fn compile_module(
    state: &AppState,
    org: &str,
    definition: String,
) -> Result<crate::workflow::Workflow, ApiError> {
    let workflows = state.workflows.clone();
    let artifacts = state.artifacts.clone();
    let org = org.to_owned();
    tokio::task::spawn_blocking(move || workflows.load(&definition, artifacts.as_ref(), Some(&org)))
        .await
        .map_err(|_| ApiError::Conflict("the upload was interrupted".into()))?
        .map_err(refused)
}

/// A module refused: the fault, naming `workflow_definition`; or too many compiles, the org's
/// rate or the server's queue (429 with Retry-After).
fn refused(err: crate::workflow::WorkflowError) -> ApiError {
    match err {
        crate::workflow::WorkflowError::CompileRate { retry_after_secs, .. }
        | crate::workflow::WorkflowError::CompileQueueFull { retry_after_secs, .. } => ApiError::TooManyRequests {
            message: err.to_string(),
            retry_after_secs,
        },
        err => ApiError::invalid("workflow_definition", err.to_string()),
    }
}

/// The body of a dry run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    pub input: serde_json::Map<String, serde_json::Value>,
    /// A module to try instead of the stored one.
    pub workflow_definition: Option<String>,
}

pub async fn test(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<TestBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.can_read("agents")?;
    let snapshot = state.directory.snapshot();
    let stored = snapshot.routing_configs.get(&caller.org_id).cloned();
    let mut config = match (stored, &body.workflow_definition) {
        (Some(config), _) => config,
        (None, Some(_)) => RoutingConfig {
            org_id: caller.org_id.clone(),
            enabled: true,
            workflow_definition: None,
            fallback_agent_id: None,
            fallback_agent_version: None,
            tz: None,
            updated_at: now(),
        },
        (None, None) => return Err(ApiError::NotFound("inbound routing config")),
    };
    if body.workflow_definition.is_some() {
        config.workflow_definition = body.workflow_definition.clone();
    }
    let Some(definition) = config.workflow_definition.clone() else {
        return Err(ApiError::invalid(
            "workflow_definition",
            "the routing config has no workflow to run",
        ));
    };
    let mut input = body.input;
    input
        .entry("organization_id")
        .or_insert_with(|| serde_json::Value::String(caller.org_id.clone()));
    let context = crate::routing::dry_run::context(&input, config.tz.as_deref(), std::time::SystemTime::now())
        .map_err(|message| ApiError::invalid("input", message))?;
    let workflows = state.workflows.clone();
    let org = caller.org_id.clone();
    let workflow = tokio::task::spawn_blocking(move || workflows.for_dry_run(&org, &definition))
        .await
        .map_err(|_| ApiError::Conflict("the dry run was interrupted".into()))?
        .map_err(refused)?;
    let engine = state.workflows.clone();
    let given = context.clone();
    let run = tokio::task::spawn_blocking(move || engine.engine().run(&workflow, given))
        .await
        .map_err(|_| ApiError::Conflict("the run was interrupted".into()))?;
    Ok(Json(crate::routing::dry_run::answer(
        &snapshot,
        &config,
        &state.default_country,
        &context,
        &run,
    )))
}
