//! `/core/inbound-routing-config`: one per org. The fallback agent and version must exist
//! (and the version be published). The workflow module (wasm as base64, or WAT text) is
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
    if let Some(tz) = &body.tz {
        if jiff::tz::TimeZone::get(tz).is_err() {
            return Err(ApiError::invalid("tz", format!("{tz:?} is not an IANA time zone")));
        }
    }
    if let Some(definition) = body.workflow_definition.clone() {
        compile(&state, &caller.org_id, definition).await?;
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

/// Compile and check a module (off the async threads: a compile takes up to
/// `[workflow] compile_timeout_ms`, in a child process), and store its artifact.
async fn compile(state: &AppState, org: &str, definition: String) -> Result<crate::workflow::Workflow, ApiError> {
    let workflows = state.workflows.clone();
    let artifacts = state.artifacts.clone();
    let org = org.to_owned();
    tokio::task::spawn_blocking(move || workflows.load(&definition, &artifacts, Some(&org)))
        .await
        .map_err(|_| ApiError::Conflict("the upload was interrupted".into()))?
        .map_err(refused)
}

/// A module refused: the fault, naming `workflow_definition`; or too many compiles (429).
fn refused(err: crate::workflow::WorkflowError) -> ApiError {
    match err {
        crate::workflow::WorkflowError::CompileRate { retry_after_secs, .. } => ApiError::TooManyRequests {
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
    let run = tokio::task::spawn_blocking(move || engine.engine().run(&workflow, context))
        .await
        .map_err(|_| ApiError::Conflict("the run was interrupted".into()))?;
    let output = crate::routing::dry_run::output(&run);
    let (outcome, fuel, elapsed, logs) = (run.outcome.clone(), run.fuel_used, run.elapsed, run.logs.clone());
    let decision = crate::routing::dry_run::decision(&snapshot, &config, run);
    Ok(Json(crate::routing::dry_run::report(
        output,
        &outcome,
        decision,
        (fuel, elapsed, &logs),
    )))
}
