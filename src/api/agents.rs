//! `/core/agents`: agents, their numbered versions, and assignment to numbers by publishing
//! a version. Published versions are immutable; `publish` writes only the slots `direction`
//! names, and `unassign_phone_numbers` clears only slots that point at this agent.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{Body, Params, Segment};
use super::page::{Page, PageQuery};
use super::{commit, now, ApiError, AppState};
use crate::directory::model::{Agent, AgentVersion, PhoneNumber};
use crate::directory::{Object, Snapshot};
use crate::store::Kind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub name: Option<String>,
}

/// Which number slots a publish writes.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Inbound,
    Outbound,
    Both,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    #[serde(default)]
    pub phone_numbers: Vec<String>,
    #[serde(default)]
    pub unassign_phone_numbers: Vec<String>,
    #[serde(default)]
    pub direction: Direction,
}

#[derive(Debug, Serialize)]
pub struct Published {
    pub version: AgentVersion,
    pub phone_numbers: Vec<PhoneNumber>,
}

pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<PageQuery>,
) -> Result<Json<Page<Agent>>, ApiError> {
    caller.can_read("agents")?;
    let snapshot = state.directory.snapshot();
    let items: Vec<Agent> = snapshot
        .agents
        .values()
        .filter(|a| a.org_id == caller.org_id && q.in_range(&a.created_at, &a.created_at))
        .cloned()
        .collect();
    Ok(Json(q.paginate(items, |a| (a.created_at.clone(), a.id.clone()))?))
}

pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    caller.can_manage("agents")?;
    let name = body
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty() && n.len() <= 200)
        .ok_or_else(|| ApiError::invalid("name", "name is required (1 to 200 characters)"))?;
    let agent = Agent {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: caller.org_id.clone(),
        name,
        created_at: now(),
    };
    commit(&state, vec![Object::Agent(agent.clone())], vec![]).await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

pub async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Segment(id): Segment<String>,
) -> Result<Json<Agent>, ApiError> {
    caller.can_read("agents")?;
    Ok(Json(own_agent(&state.directory.snapshot(), &caller, &id)?))
}

pub async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Segment(id): Segment<String>,
) -> Result<StatusCode, ApiError> {
    caller.can_manage("agents")?;
    let snapshot = state.directory.snapshot();
    own_agent(&snapshot, &caller, &id)?;
    // The directory refuses, inside the commit, an agent that numbers or the routing
    // config still name.
    let mut deletes: Vec<(Kind, String)> = snapshot
        .versions
        .values()
        .filter(|v| v.agent_id == id)
        .map(|v| (Kind::AgentVersion, v.id.clone()))
        .collect();
    deletes.push((Kind::Agent, id));
    commit(&state, vec![], deletes).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agent's versions, oldest first, with the list endpoints' pagination.
pub async fn list_versions(
    caller: Caller,
    State(state): State<AppState>,
    Segment(id): Segment<String>,
    Params(q): Params<PageQuery>,
) -> Result<Json<Page<AgentVersion>>, ApiError> {
    caller.can_read("agents")?;
    let snapshot = state.directory.snapshot();
    own_agent(&snapshot, &caller, &id)?;
    let items: Vec<AgentVersion> = snapshot
        .versions
        .values()
        .filter(|v| v.agent_id == id && q.in_range(&v.created_at, &v.created_at))
        .cloned()
        .collect();
    // Zero-padded: the page order (creation time, then this) is the version order.
    Ok(Json(q.paginate(items, |v| {
        (v.created_at.clone(), format!("{:010}", v.version))
    })?))
}

/// A new draft version, numbered after the last.
pub async fn create_version(
    caller: Caller,
    State(state): State<AppState>,
    Segment(id): Segment<String>,
) -> Result<(StatusCode, Json<AgentVersion>), ApiError> {
    caller.can_manage("agents")?;
    let snapshot = state.directory.snapshot();
    own_agent(&snapshot, &caller, &id)?;
    let next = snapshot
        .versions
        .values()
        .filter(|v| v.agent_id == id)
        .map(|v| v.version)
        .max()
        .unwrap_or(0)
        + 1;
    let version = AgentVersion {
        id: format!("ver_{}", uuid::Uuid::new_v4().simple()),
        agent_id: id,
        org_id: caller.org_id.clone(),
        version: next,
        published: false,
        created_at: now(),
    };
    commit(&state, vec![Object::AgentVersion(version.clone())], vec![]).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

pub async fn get_version(
    caller: Caller,
    State(state): State<AppState>,
    Segment((id, version)): Segment<(String, String)>,
) -> Result<Json<AgentVersion>, ApiError> {
    caller.can_read("agents")?;
    let snapshot = state.directory.snapshot();
    own_agent(&snapshot, &caller, &id)?;
    Ok(Json(find_version(&snapshot, &id, &version)?))
}

/// Publish a version and assign it to numbers.
pub async fn publish(
    caller: Caller,
    State(state): State<AppState>,
    Segment((id, version)): Segment<(String, String)>,
    raw: axum::body::Bytes,
) -> Result<Json<Published>, ApiError> {
    caller.can_manage("agents")?;
    caller.can_manage("phone_numbers")?;
    // The body is optional: an empty one publishes without assigning.
    let body: PublishBody = if raw.is_empty() {
        PublishBody::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| super::error::rejected_json(&e))?
    };
    let snapshot = state.directory.snapshot();
    own_agent(&snapshot, &caller, &id)?;
    let mut version = find_version(&snapshot, &id, &version)?;
    version.published = true;
    let agent_versions: Vec<String> = snapshot
        .versions
        .values()
        .filter(|v| v.agent_id == id)
        .map(|v| v.id.clone())
        .collect();
    let (inbound, outbound) = (
        body.direction != Direction::Outbound,
        body.direction != Direction::Inbound,
    );
    let stamp = now();
    let mut changed: Vec<PhoneNumber> = Vec::new();
    for (field, list, assign) in [
        ("phone_numbers", &body.phone_numbers, true),
        ("unassign_phone_numbers", &body.unassign_phone_numbers, false),
    ] {
        for written in list {
            let number = super::numbers::find_number(&snapshot, &state, &caller, written).ok_or_else(|| {
                ApiError::invalid(field, format!("{written:?} is not one of the org's phone numbers"))
            })?;
            let mut number = changed.iter().find(|n| n.id == number.id).cloned().unwrap_or(number);
            let ours = |slot: &Option<String>| slot.as_ref().is_some_and(|v| agent_versions.contains(v));
            if assign {
                if inbound {
                    number.inbound_agent_version_id = Some(version.id.clone());
                }
                if outbound {
                    super::numbers::can_call_out(&snapshot, &state, &number, field)?;
                    number.outbound_agent_version_id = Some(version.id.clone());
                }
            } else {
                if inbound && ours(&number.inbound_agent_version_id) {
                    number.inbound_agent_version_id = None;
                }
                if outbound && ours(&number.outbound_agent_version_id) {
                    number.outbound_agent_version_id = None;
                }
            }
            number.updated_at = stamp.clone();
            changed.retain(|n| n.id != number.id);
            changed.push(number);
        }
    }
    let mut puts = vec![Object::AgentVersion(version.clone())];
    puts.extend(changed.iter().cloned().map(Object::PhoneNumber));
    commit(&state, puts, vec![]).await?;
    Ok(Json(Published {
        version,
        phone_numbers: changed,
    }))
}

fn own_agent(snapshot: &Snapshot, caller: &Caller, id: &str) -> Result<Agent, ApiError> {
    snapshot
        .agents
        .get(id)
        .filter(|a| a.org_id == caller.org_id)
        .cloned()
        .ok_or(ApiError::NotFound("agent"))
}

/// `version` is a number, or `latest` (the newest published one).
fn find_version(snapshot: &Snapshot, agent: &str, version: &str) -> Result<AgentVersion, ApiError> {
    let mut versions = snapshot.versions.values().filter(|v| v.agent_id == agent);
    let found = if version == "latest" {
        versions.filter(|v| v.published).max_by_key(|v| v.version)
    } else {
        let n: u32 = version
            .parse()
            .map_err(|_| ApiError::invalid("version", "version is a number or `latest`"))?;
        versions.find(|v| v.version == n)
    };
    found.cloned().ok_or(ApiError::NotFound("agent version"))
}
