//! `/core/calls`: the org's call records, newest first, with filters and cursor pagination.
//! Read-only; records are written by the call path (`call_records`).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{Params, Segment};
use super::{ApiError, AppState};
use crate::call_records::CallRecord;
use crate::store::{CallQuery, CallStore};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;
/// Rows read per store query while filters drop records; bounds one request's work.
const SCAN_LIMIT: usize = 5_000;

/// Query parameters of the listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// RFC 3339: records whose INVITE arrived at or after / before this instant.
    pub started_after: Option<String>,
    pub started_before: Option<String>,
    pub direction: Option<String>,
    pub outcome: Option<String>,
    pub route_kind: Option<String>,
    pub status: Option<String>,
    /// Matches the called or the calling number (E.164).
    pub phone_number: Option<String>,
    pub trunk_id: Option<String>,
    pub agent_id: Option<String>,
    /// Matches the Call-ID of either leg: the one that reached us or LiveKit's.
    pub call_id: Option<String>,
}

impl super::error::QueryFields for CallsQuery {}

/// A page of call records.
#[derive(Debug, Serialize)]
pub struct CallPage {
    pub data: Vec<CallRecord>,
    pub next_cursor: Option<String>,
}

pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<CallsQuery>,
) -> Result<Json<CallPage>, ApiError> {
    caller.can_read("calls")?;
    let limit = match &q.limit {
        Some(text) => text.parse::<usize>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)),
        None => Some(DEFAULT_LIMIT),
    }
    .ok_or_else(|| ApiError::invalid("limit", format!("limit must be between 1 and {MAX_LIMIT}")))?;
    let status = match &q.status {
        Some(text) => Some(
            text.parse::<u16>()
                .ok()
                .filter(|s| (100..=699).contains(s))
                .ok_or_else(|| ApiError::invalid("status", "status must be a SIP status code (100-699)"))?,
        ),
        None => None,
    };
    let query = CallQuery {
        org_id: caller.org_id.clone(),
        before: q.cursor.as_deref().map(decode_cursor).transpose()?,
        since_ms: q
            .started_after
            .as_deref()
            .map(|t| unix_ms("started_after", t))
            .transpose()?,
        until_ms: q
            .started_before
            .as_deref()
            .map(|t| unix_ms("started_before", t))
            .transpose()?,
        limit: SCAN_LIMIT,
    };
    let log = state.calls.clone();
    let page = tokio::task::spawn_blocking(move || scan(&log, query, limit, |r| matches(&q, status, r)))
        .await
        .map_err(|_| ApiError::Conflict("the read was interrupted".into()))??;
    Ok(Json(page))
}

pub async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Segment(id): Segment<String>,
) -> Result<Json<CallRecord>, ApiError> {
    caller.can_read("calls")?;
    let log = state.calls.clone();
    let org = caller.org_id.clone();
    let record = tokio::task::spawn_blocking(move || log.get(&org, &id))
        .await
        .map_err(|_| ApiError::Conflict("the read was interrupted".into()))?
        .map_err(crate::directory::DirectoryError::from)?;
    record.map(Json).ok_or(ApiError::NotFound("call"))
}

/// Read pages from the store until `limit` records pass the filters or the scan budget is
/// spent; the cursor names the last record read, so the next page resumes after it.
fn scan(
    log: &Arc<dyn CallStore>,
    mut query: CallQuery,
    limit: usize,
    keep: impl Fn(&CallRecord) -> bool,
) -> Result<CallPage, ApiError> {
    let mut data = Vec::new();
    let mut scanned = 0;
    let mut last = None;
    loop {
        let rows = log.list(&query).map_err(crate::directory::DirectoryError::from)?;
        let exhausted = rows.len() < query.limit;
        for (key, record) in rows {
            scanned += 1;
            last = Some(key);
            if keep(&record) {
                data.push(record);
                if data.len() == limit {
                    return Ok(CallPage {
                        data,
                        next_cursor: last.map(encode_cursor),
                    });
                }
            }
        }
        if exhausted {
            return Ok(CallPage {
                data,
                next_cursor: None,
            });
        }
        if scanned >= SCAN_LIMIT {
            // The filters matched little of what was read: hand back what matched and a
            // cursor to continue from.
            return Ok(CallPage {
                data,
                next_cursor: last.map(encode_cursor),
            });
        }
        query.before = last;
    }
}

fn matches(q: &CallsQuery, status: Option<u16>, r: &CallRecord) -> bool {
    q.direction.as_deref().is_none_or(|d| r.direction == d)
        && q.outcome.as_deref().is_none_or(|o| r.outcome == o)
        && q.route_kind.as_deref().is_none_or(|k| r.route_kind == k)
        && status.is_none_or(|s| r.status == s)
        && q.trunk_id.as_deref().is_none_or(|t| r.trunk_id.as_deref() == Some(t))
        && q.agent_id.as_deref().is_none_or(|a| r.agent_id.as_deref() == Some(a))
        && q.call_id
            .as_deref()
            .is_none_or(|c| r.call_id == c || r.livekit_call_id.as_deref() == Some(c))
        && q.phone_number
            .as_deref()
            .is_none_or(|n| r.called_number.as_deref() == Some(n) || r.calling_number.as_deref() == Some(n))
}

/// The cursor is the id of the last record of the page.
fn encode_cursor(key: i64) -> String {
    crate::store::record_id(key)
}

fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    crate::store::record_key(cursor).ok_or_else(|| ApiError::invalid("cursor", "cursor is not one this API returned"))
}

fn unix_ms(field: &'static str, text: &str) -> Result<i64, ApiError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| ApiError::invalid(field, format!("{field} must be an RFC 3339 timestamp")))
}
