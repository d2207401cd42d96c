//! Dry runs of a routing workflow, in the product's documented JSON: the input object in;
//! the output object, the outcome and what it means, the decision switchboard would take,
//! fuel used and time out. Shared by `POST /core/inbound-routing-config/test` and
//! `switchboard workflow test`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::workflows::{decide, unusable_selection, Chosen};
use super::Refusal;
use crate::directory::model::RoutingConfig;
use crate::directory::Snapshot;
use crate::workflow::{Outcome, Run};

/// The context of a dry run: the input object's keys as given (strings; numbers and
/// booleans in their JSON text), and the local-time keys derived from its `timestamp`
/// (else `now`, the wall clock the caller read) in `tz`.
pub fn context(
    input: &Map<String, Value>,
    tz: Option<&str>,
    now: SystemTime,
) -> Result<BTreeMap<String, String>, String> {
    let mut context = BTreeMap::new();
    for (key, value) in input {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            Value::Object(_) | Value::Array(_) => return Err(format!("input.{key} must be a string")),
            other => other.to_string(),
        };
        context.insert(key.clone(), text);
    }
    let now = match context.get("timestamp") {
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .map_err(|_| "input.timestamp must be an RFC 3339 timestamp".to_owned())?,
        None => jiff::Timestamp::try_from(now).map_err(|e| e.to_string())?,
    };
    let zone = match tz {
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|_| format!("unknown time zone {name:?}"))?,
        None => jiff::tz::TimeZone::UTC,
    };
    let local = now.to_zoned(zone);
    context
        .entry("timestamp".into())
        .or_insert_with(|| now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    context.insert("time.unix_ms".into(), now.as_millisecond().to_string());
    context.insert(
        "time.weekday".into(),
        local.weekday().to_monday_zero_offset().to_string(),
    );
    context.insert("time.hour".into(), local.hour().to_string());
    context.insert("time.minute".into(), local.minute().to_string());
    Ok(context)
}

/// The documented output object of a run.
pub fn output(run: &Run) -> Value {
    let (agent_id, version, reject) = match &run.outcome {
        Outcome::Selected { agent_id, version } => (Some(agent_id.clone()), *version, false),
        Outcome::Rejected { .. } => (None, None, true),
        _ => (None, None, false),
    };
    json!({
        "reject": reject,
        "agent_id": agent_id,
        "version": version,
        "initial_context": run.initial_context,
        "custom_metadata": run.custom_metadata,
    })
}

/// The whole dry-run answer: the run's output object, its outcome and what that means
/// (`outcome_detail`), the decision switchboard would take with the directory at hand
/// (the org's fallback agent, then the own agent of the number in `called_number`), fuel
/// used (also when the run failed) and time. A `called_number` without `+` is national in
/// `country` (`[routing] default_country`), as on a live call.
pub fn answer(
    snapshot: &Snapshot,
    config: &RoutingConfig,
    country: &str,
    context: &BTreeMap<String, String>,
    run: &Run,
) -> Value {
    let number = context
        .get("called_number")
        .and_then(|called| crate::sip::e164::normalise(called, country))
        .and_then(|called| snapshot.number(&called).cloned())
        .filter(|n| n.org_id == config.org_id);
    let decision = match decide(snapshot, config, number.as_deref(), run) {
        Ok(Chosen { version, kind, headers }) => json!({
            "kind": "agent",
            "route_kind": kind.label(),
            "agent_id": version.agent_id,
            "agent_version": version.version,
            "agent_version_id": version.id,
            "headers": headers
                .iter()
                .map(|(n, v)| (n.clone(), Value::String(String::from_utf8_lossy(v).into_owned())))
                .collect::<Map<_, _>>(),
        }),
        Err(refusal) => refusal_json(&refusal),
    };
    json!({
        "output": output(run),
        "outcome": run.outcome.label(),
        "outcome_detail": detail(snapshot, &config.org_id, &run.outcome),
        "decision": decision,
        "fuel_used": run.fuel_used,
        "elapsed_us": run.elapsed.as_micros() as u64,
        "logs": run.logs,
    })
}

fn refusal_json(refusal: &Refusal) -> Value {
    let (status, reason) = crate::status::routing(refusal);
    json!({ "kind": "refuse", "status": status, "reason": reason })
}

/// What an outcome means for this call, when there is more to say than its label: why a
/// run failed, or why the agent it selected cannot answer.
fn detail(snapshot: &Snapshot, org: &str, outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Selected { agent_id, version } => unusable_selection(snapshot, org, agent_id, *version),
        Outcome::NoDecision | Outcome::Rejected { .. } => None,
        Outcome::Trap { why } | Outcome::Invalid { why } => Some(why.clone()),
        Outcome::Timeout => {
            Some("the run passed its deadline ([workflow] deadline_ms); fuel_used counts to its last host call".into())
        }
        Outcome::OutOfFuel => Some("the run spent all its fuel ([workflow] fuel)".into()),
        Outcome::OutOfMemory => Some("the module was refused memory past [workflow] memory_bytes, then failed".into()),
        Outcome::Busy => Some("every workflow instance was in use ([workflow] pool_instances)".into()),
    }
}
