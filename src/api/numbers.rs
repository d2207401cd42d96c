//! `/core/phone-numbers`: numbers in E.164 on one trunk each, with independent inbound and
//! outbound agent slots. Numbers are registered directly only on BYOC trunks (managed ones
//! are bought, and DELETE releases them at the provider); PATCH changes
//! `outbound_shareable` and `trunk_id` (a move between the org's BYOC trunks) and nothing
//! else. Numbers are read by the numbering plans' rules, national forms in
//! `[routing] default_country`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::error::{Body, Params, Segment};
use super::page::{Page, PageQuery};
use super::{commit, now, ApiError, AppState};
use crate::directory::model::PhoneNumber;
use crate::directory::{Object, Snapshot};
use crate::store::Kind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub phone_number: Option<String>,
    pub trunk_id: Option<String>,
    pub inbound_agent_version_id: Option<String>,
    pub outbound_agent_version_id: Option<String>,
    #[serde(default)]
    pub outbound_shareable: bool,
}

#[derive(Debug, Deserialize)]
pub struct NumberQuery {
    pub phone_number: Option<String>,
    pub trunk_id: Option<String>,
    #[serde(flatten)]
    pub page: PageQuery,
}

impl super::error::QueryFields for NumberQuery {
    const FIELDS: &'static [&'static str] = &[
        "phone_number",
        "trunk_id",
        "limit",
        "cursor",
        "created_after",
        "created_before",
        "updated_after",
        "updated_before",
    ];
}

pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<NumberQuery>,
) -> Result<Json<Page<PhoneNumber>>, ApiError> {
    caller.can_read("phone_numbers")?;
    let snapshot = state.directory.snapshot();
    let items: Vec<PhoneNumber> = snapshot
        .numbers()
        .filter(|n| n.org_id == caller.org_id)
        .filter(|n| q.phone_number.as_deref().is_none_or(|s| n.phone_number.contains(s)))
        .filter(|n| q.trunk_id.as_deref().is_none_or(|t| n.trunk_id == t))
        .filter(|n| q.page.in_range(&n.created_at, &n.updated_at))
        .map(|n| PhoneNumber::clone(n))
        .collect();
    Ok(Json(q.page.paginate(items, |n| (n.created_at.clone(), n.id.clone()))?))
}

pub async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Segment(number): Segment<String>,
) -> Result<Json<PhoneNumber>, ApiError> {
    caller.can_read("phone_numbers")?;
    Ok(Json(own_number(&state.directory.snapshot(), &state, &caller, &number)?))
}

pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<PhoneNumber>), ApiError> {
    caller.can_manage("phone_numbers")?;
    let snapshot = state.directory.snapshot();
    let raw = body
        .phone_number
        .as_deref()
        .ok_or_else(|| ApiError::invalid("phone_number", "phone_number is required"))?;
    let e164 = written(&state, "phone_number", raw)?;
    let trunk_id = body
        .trunk_id
        .clone()
        .ok_or_else(|| ApiError::invalid("trunk_id", "trunk_id is required"))?;
    let trunk = snapshot
        .trunks
        .get(&trunk_id)
        .filter(|t| t.org_id == caller.org_id)
        .ok_or_else(|| ApiError::invalid("trunk_id", "no such trunk"))?;
    if trunk.is_managed() {
        return Err(ApiError::invalid(
            "trunk_id",
            "numbers cannot be registered on a managed trunk: buy them with purchase-number",
        ));
    }
    super::numbers::check_room(&snapshot, &caller, &e164, state.config.max_numbers_per_org)?;
    for (field, version) in [
        ("inbound_agent_version_id", &body.inbound_agent_version_id),
        ("outbound_agent_version_id", &body.outbound_agent_version_id),
    ] {
        if let Some(id) = version {
            let ok = snapshot
                .versions
                .get(id)
                .is_some_and(|v| v.org_id == caller.org_id && v.published);
            if !ok {
                return Err(ApiError::invalid(field, "no such published agent version"));
            }
        }
    }
    let stamp = now();
    let number = PhoneNumber {
        id: format!("pn_{}", uuid::Uuid::new_v4().simple()),
        org_id: caller.org_id.clone(),
        phone_number: e164,
        trunk_id,
        inbound_agent_version_id: body.inbound_agent_version_id,
        outbound_agent_version_id: body.outbound_agent_version_id,
        outbound_shareable: body.outbound_shareable,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    commit(&state, vec![Object::PhoneNumber(number.clone())], vec![]).await?;
    Ok((StatusCode::CREATED, Json(number)))
}

/// PATCH accepts `outbound_shareable` and `trunk_id`; any other field is named in the error.
pub async fn patch(
    caller: Caller,
    State(state): State<AppState>,
    Segment(number): Segment<String>,
    Body(body): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<PhoneNumber>, ApiError> {
    caller.can_manage("phone_numbers")?;
    let snapshot = state.directory.snapshot();
    let mut record = own_number(&snapshot, &state, &caller, &number)?;
    for (field, value) in &body {
        match (field.as_str(), value) {
            ("outbound_shareable", serde_json::Value::Bool(b)) => record.outbound_shareable = *b,
            ("outbound_shareable", _) => {
                return Err(ApiError::invalid(
                    "outbound_shareable",
                    "outbound_shareable must be true or false",
                ))
            }
            ("trunk_id", serde_json::Value::String(to)) => record.trunk_id = moved(&snapshot, &caller, &record, to)?,
            ("trunk_id", _) => return Err(ApiError::invalid("trunk_id", "trunk_id must be a trunk id")),
            _ => {
                return Err(ApiError::invalid(
                    field.clone(),
                    format!("{field} cannot be changed with PATCH; only outbound_shareable and trunk_id can"),
                ))
            }
        }
    }
    if record.outbound_shareable {
        can_call_out(&snapshot, &state, &record, "outbound_shareable")?;
    }
    record.updated_at = now();
    commit(&state, vec![Object::PhoneNumber(record.clone())], vec![]).await?;
    Ok(Json(record))
}

/// The trunk a number moves to: another of the org's BYOC trunks. Purchased numbers stay
/// on the managed trunk (the provider's account holds them; DELETE releases them), and
/// numbers are never moved onto it.
fn moved(snapshot: &Snapshot, caller: &Caller, number: &PhoneNumber, to: &str) -> Result<String, ApiError> {
    let target = snapshot
        .trunks
        .get(to)
        .filter(|t| t.org_id == caller.org_id)
        .ok_or_else(|| ApiError::invalid("trunk_id", format!("{to:?} is not one of the org's trunks")))?;
    if target.id == number.trunk_id {
        return Ok(target.id.clone());
    }
    if snapshot.trunks.get(&number.trunk_id).is_some_and(|t| t.is_managed()) {
        return Err(ApiError::invalid(
            "trunk_id",
            "a purchased number stays on the managed trunk; DELETE releases it at the provider",
        ));
    }
    if target.is_managed() {
        return Err(ApiError::invalid(
            "trunk_id",
            "numbers cannot be moved onto a managed trunk: buy them with purchase-number",
        ));
    }
    Ok(target.id.clone())
}

/// A number on a managed trunk places calls only when the managed carrier is configured:
/// making it a caller ID is refused, saying what to set, when it is not.
pub(super) fn can_call_out(
    snapshot: &Snapshot,
    state: &AppState,
    number: &PhoneNumber,
    field: &'static str,
) -> Result<(), ApiError> {
    let managed = snapshot.trunks.get(&number.trunk_id).is_some_and(|t| t.is_managed());
    if managed && !state.managed_outbound {
        return Err(ApiError::invalid(
            field,
            format!(
                "{} is on the managed trunk, and managed trunks place no calls on this server: \
                 set [outbound] managed_termination_host to the managed carrier's host",
                number.phone_number
            ),
        ));
    }
    Ok(())
}

/// Delete a number; a purchased one is released at its provider first (the sandbox sells
/// it again), so the org stops paying for it.
pub async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Segment(number): Segment<String>,
) -> Result<StatusCode, ApiError> {
    caller.can_manage("phone_numbers")?;
    let snapshot = state.directory.snapshot();
    let record = own_number(&snapshot, &state, &caller, &number)?;
    if snapshot.trunks.get(&record.trunk_id).is_some_and(|t| t.is_managed()) {
        let provider = state.provider.clone();
        let e164 = record.phone_number.clone();
        tokio::task::spawn_blocking(move || provider.release(&e164))
            .await
            .map_err(|_| ApiError::Conflict("the release was interrupted".into()))?
            .map_err(super::purchase::provider_error)?;
    }
    commit(&state, vec![], vec![(Kind::PhoneNumber, record.id)]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A number as a client wrote it, in E.164, or a 400 naming `field` and why.
pub(super) fn written(state: &AppState, field: &'static str, raw: &str) -> Result<String, ApiError> {
    crate::sip::e164::parse(raw, &state.default_country).map_err(|e| ApiError::invalid(field, e.to_string()))
}

/// The caller's number by any written form of it, or 404 (also for another org's). A
/// number stored before the strict rules is still found by its stored form.
fn own_number(snapshot: &Snapshot, state: &AppState, caller: &Caller, written: &str) -> Result<PhoneNumber, ApiError> {
    find_number(snapshot, state, caller, written).ok_or(ApiError::NotFound("phone number"))
}

pub(super) fn find_number(
    snapshot: &Snapshot,
    state: &AppState,
    caller: &Caller,
    written: &str,
) -> Option<PhoneNumber> {
    let e164 = crate::sip::e164::parse(written, &state.default_country)
        .ok()
        .or_else(|| crate::sip::e164::normalise(written, &state.default_country))?;
    snapshot
        .number(&e164)
        .filter(|n| n.org_id == caller.org_id)
        .map(|n| PhoneNumber::clone(n))
}

/// A new number for the caller's org: not registered yet, and within the org's limit.
/// Shared by registration and purchase.
pub(super) fn check_room(snapshot: &Snapshot, caller: &Caller, e164: &str, limit: usize) -> Result<(), ApiError> {
    if snapshot.number(e164).is_some() {
        return Err(ApiError::Refused(crate::directory::Violation::new(
            "phone_number",
            format!("{e164} is already registered"),
        )));
    }
    let held = snapshot.numbers().filter(|n| n.org_id == caller.org_id).count();
    if held >= limit {
        return Err(ApiError::invalid(
            "phone_number",
            format!("the org's limit of {limit} numbers is reached"),
        ));
    }
    Ok(())
}
