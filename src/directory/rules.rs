//! The directory's rules, checked inside the commit, under the writer lock, on the state
//! the commit would publish: whatever the API read earlier, a change that breaks a rule
//! is refused here, naming the field at fault. The store backs the critical ones with
//! constraints of its own (a unique number, foreign keys).
//!
//! The rules: a phone number is held once, across every org; a number's trunk exists and
//! is in the number's org; its agent slots name published versions of its org; a trunk
//! keeps its org, its kind and its managed account, a managed trunk is never deleted, and
//! a trunk that carries numbers is not deleted; a published version stays published; an agent
//! version names an agent of its org; a routing config's fallback agent (and version)
//! exists, published, and the fallback agent is not deleted while the config names it;
//! an org that gains numbers stays within `max_numbers_per_org`.

use std::collections::HashSet;

use super::model::{PhoneNumber, RoutingConfig};
use super::{Object, Snapshot};
use crate::store::Kind;

/// A change the directory refuses, and the field of the request that it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Violation {
    pub field: &'static str,
    pub message: String,
}

impl Violation {
    pub fn new(field: &'static str, message: impl Into<String>) -> Violation {
        Violation {
            field,
            message: message.into(),
        }
    }
}

/// What the rules bound (`[directory]`).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_numbers_per_org: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_numbers_per_org: usize::MAX,
        }
    }
}

/// Check a change: `before` is the published state, `after` the state with the change
/// applied.
pub fn check(
    before: &Snapshot,
    after: &Snapshot,
    puts: &[Object],
    deletes: &[(Kind, String)],
    limits: &Limits,
) -> Result<(), Violation> {
    check_room(before, after, puts, limits)?;
    let mut numbers = HashSet::new();
    for object in puts {
        match object {
            Object::PhoneNumber(n) => {
                if !numbers.insert(n.phone_number.as_str()) {
                    return Err(taken(&n.phone_number));
                }
                check_number(before, after, n)?;
            }
            Object::Trunk(t) => {
                // The API refuses to change a managed trunk on what it read: that holds
                // because a trunk never changes kind, which is checked here.
                if let Some(old) = before.trunks.get(&t.id) {
                    if old.org_id != t.org_id {
                        return Err(Violation::new("org_id", "a trunk never changes org"));
                    }
                    if old.managed_account_id != t.managed_account_id {
                        return Err(Violation::new(
                            "managed_account_id",
                            "a trunk never changes kind (managed or BYOC) or managed account",
                        ));
                    }
                }
            }
            Object::AgentVersion(v) => {
                if before
                    .versions
                    .get(&v.id)
                    .is_some_and(|old| old.published && !v.published)
                {
                    return Err(Violation::new("version", "a published version is immutable"));
                }
                if after.agents.get(&v.agent_id).is_none_or(|a| a.org_id != v.org_id) {
                    return Err(Violation::new("agent_id", "no such agent"));
                }
            }
            Object::RoutingConfig(c) => check_fallback(after, c)?,
            Object::Org(_) | Object::Agent(_) | Object::ApiKey(_) | Object::UserToken(_) => {}
        }
    }
    for (kind, id) in deletes {
        match kind {
            Kind::Trunk => {
                if before.trunks.get(id).is_some_and(|t| t.is_managed()) {
                    return Err(managed());
                }
                if after.numbers().any(|n| &n.trunk_id == id) {
                    return Err(Violation::new(
                        "id",
                        "the trunk still carries phone numbers; delete or move them first",
                    ));
                }
            }
            Kind::AgentVersion => {
                if after.numbers().any(|n| slots(n).any(|slot| slot == id)) {
                    return Err(Violation::new(
                        "id",
                        "the agent still answers or calls from phone numbers; unassign them first",
                    ));
                }
            }
            Kind::Agent => {
                if after
                    .routing_configs
                    .values()
                    .any(|c| c.fallback_agent_id.as_ref() == Some(id))
                {
                    return Err(Violation::new(
                        "id",
                        "the agent is the fallback of the org's inbound routing config; change that first",
                    ));
                }
                if after.versions.values().any(|v| &v.agent_id == id) {
                    return Err(Violation::new("id", "the agent's versions must go with it"));
                }
            }
            Kind::Org | Kind::PhoneNumber | Kind::ApiKey | Kind::RoutingConfig | Kind::UserToken => {}
        }
    }
    // A version deleted (or an agent's versions) may still be pinned by a fallback.
    if deletes.iter().any(|(kind, _)| *kind == Kind::AgentVersion) {
        for config in after.routing_configs.values() {
            check_fallback(after, config)?;
        }
    }
    Ok(())
}

/// Each org that gains a number stays within the limit (an org already past it, after the
/// limit was lowered, may still move or drop numbers).
fn check_room(before: &Snapshot, after: &Snapshot, puts: &[Object], limits: &Limits) -> Result<(), Violation> {
    let mut gaining = HashSet::new();
    for object in puts {
        if let Object::PhoneNumber(n) = object {
            if before
                .number(&n.phone_number)
                .is_none_or(|held| held.org_id != n.org_id)
            {
                gaining.insert(n.org_id.as_str());
            }
        }
    }
    for org in gaining {
        let held = after.numbers().filter(|n| n.org_id == org).count();
        if held > limits.max_numbers_per_org {
            return Err(Violation::new(
                "phone_number",
                format!("the org's limit of {} numbers is reached", limits.max_numbers_per_org),
            ));
        }
    }
    Ok(())
}

fn check_number(before: &Snapshot, after: &Snapshot, n: &PhoneNumber) -> Result<(), Violation> {
    if before.number(&n.phone_number).is_some_and(|held| held.id != n.id) {
        return Err(taken(&n.phone_number));
    }
    if after.trunks.get(&n.trunk_id).is_none_or(|t| t.org_id != n.org_id) {
        return Err(Violation::new("trunk_id", "no such trunk"));
    }
    for (field, slot) in [
        ("inbound_agent_version_id", &n.inbound_agent_version_id),
        ("outbound_agent_version_id", &n.outbound_agent_version_id),
    ] {
        if let Some(id) = slot {
            let ok = after
                .versions
                .get(id)
                .is_some_and(|v| v.org_id == n.org_id && v.published);
            if !ok {
                return Err(Violation::new(field, "no such published agent version"));
            }
        }
    }
    Ok(())
}

fn check_fallback(after: &Snapshot, config: &RoutingConfig) -> Result<(), Violation> {
    let Some(agent) = &config.fallback_agent_id else {
        return match config.fallback_agent_version {
            Some(_) => Err(Violation::new(
                "fallback_agent_id",
                "fallback_agent_version needs fallback_agent_id",
            )),
            None => Ok(()),
        };
    };
    if after.agents.get(agent).is_none_or(|a| a.org_id != config.org_id) {
        return Err(Violation::new("fallback_agent_id", "no such agent"));
    }
    let published = after
        .versions
        .values()
        .any(|v| &v.agent_id == agent && v.published && config.fallback_agent_version.is_none_or(|n| v.version == n));
    if !published {
        return Err(Violation::new(
            "fallback_agent_version",
            "no such published version of the fallback agent",
        ));
    }
    Ok(())
}

fn slots(n: &PhoneNumber) -> impl Iterator<Item = &String> {
    n.inbound_agent_version_id.iter().chain(&n.outbound_agent_version_id)
}

fn taken(e164: &str) -> Violation {
    Violation::new("phone_number", format!("{e164} is already registered"))
}

fn managed() -> Violation {
    Violation::new(
        "id",
        "managed trunks are provisioned by the platform and cannot be deleted through the API",
    )
}
