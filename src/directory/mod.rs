//! The directory: the data model, validated changes that are committed to the store and
//! then published as a new immutable [`Snapshot`], swapped atomically. Routing reads the
//! snapshot and never waits for the database; a change is visible to routing before its
//! write is acknowledged.

pub mod model;
mod rules;
mod seed;
mod snapshot;

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Deserialize;

pub use rules::Violation;
pub use seed::{ensure_demo, hash_api_key, new_api_key, ALL_SCOPES, AREAS, DEMO_AGENT_ID, DEMO_NUMBER};
pub use snapshot::Snapshot;

use crate::store::{Kind, Row, Store, StoreError, Write};
use model::{Agent, AgentVersion, ApiKey, Org, PhoneNumber, RoutingConfig, Trunk, UserToken};

/// `[directory]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// Numbers one org may hold.
    pub max_numbers_per_org: usize,
    /// Create a demo org, trunks, an agent and numbers in an empty store at first start.
    pub seed_demo: bool,
}

impl Default for DirectoryConfig {
    fn default() -> DirectoryConfig {
        DirectoryConfig {
            max_numbers_per_org: 10_000,
            seed_demo: true,
        }
    }
}

/// One object to write.
#[derive(Debug, Clone)]
pub enum Object {
    Org(Org),
    Trunk(Trunk),
    PhoneNumber(PhoneNumber),
    Agent(Agent),
    AgentVersion(AgentVersion),
    ApiKey(ApiKey),
    RoutingConfig(RoutingConfig),
    UserToken(UserToken),
}

/// Why a directory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot serialize {0}: {1}")]
    Encode(&'static str, serde_json::Error),
    /// The change breaks one of the directory's rules (see `rules`): nothing was written.
    #[error(transparent)]
    Refused(#[from] Violation),
}

/// The live directory.
pub struct Directory {
    store: Arc<dyn Store>,
    current: ArcSwap<Snapshot>,
    /// Serializes writers so each builds on the snapshot the previous one published.
    writer: Mutex<()>,
    /// The limits the rules hold changes to (`[directory]`).
    limits: rules::Limits,
}

impl Directory {
    /// Load every object from the store.
    pub fn load(store: Arc<dyn Store>) -> Result<Directory, DirectoryError> {
        let mut snapshot = Snapshot::empty();
        for row in store.load()? {
            apply_row(&mut snapshot, &row)?;
        }
        Ok(Directory {
            store,
            current: ArcSwap::from_pointee(snapshot),
            writer: Mutex::new(()),
            limits: rules::Limits::default(),
        })
    }

    /// Hold every commit to `[directory] max_numbers_per_org` (none by default).
    pub fn with_number_limit(mut self, max_numbers_per_org: usize) -> Directory {
        self.limits.max_numbers_per_org = max_numbers_per_org;
        self
    }

    /// Drop change-feed rows past `keep` (a shared store's; see `ChangeRetention`).
    pub fn prune_changes(&self, keep: &crate::store::ChangeRetention) -> Result<u64, DirectoryError> {
        Ok(self.store.prune_changes(keep)?)
    }

    /// The store's 32-byte secret called `name`, the same for every instance on the store.
    pub fn secret(&self, name: &str) -> Result<[u8; 32], DirectoryError> {
        Ok(self.store.secret(name)?)
    }

    /// The current snapshot (cheap: an atomic load and a reference count).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Check objects and deletions against the directory's rules on the current state,
    /// commit them durably, then publish the snapshot that includes them. All of it under
    /// the writer lock, so no other change comes between the check and the write. On a
    /// shared store where another instance committed first, catch up and check again.
    pub fn commit(&self, puts: Vec<Object>, deletes: Vec<(Kind, String)>) -> Result<Arc<Snapshot>, DirectoryError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_commit(&puts, &deletes) {
                Err(DirectoryError::Store(StoreError::Behind)) if attempts < MAX_ATTEMPTS => {
                    self.apply_peers()?;
                }
                other => return other,
            }
        }
    }

    /// Apply what other instances committed to the store since this one last looked (a
    /// shared store's change feed calls this); the changes applied.
    pub fn catch_up(&self) -> Result<Vec<Write>, DirectoryError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.apply_peers()
    }

    /// Claim a once-per-database task (the demo seed): true for the first instance only.
    pub fn claim_once(&self, name: &str) -> Result<bool, DirectoryError> {
        Ok(self.store.claim_once(name)?)
    }

    /// Under the writer lock: the peers' changes into a new snapshot.
    fn apply_peers(&self) -> Result<Vec<Write>, DirectoryError> {
        let changes = match self.store.catch_up() {
            Err(StoreError::Pruned) => return self.reload(),
            other => other?,
        };
        if changes.is_empty() {
            return Ok(changes);
        }
        let mut next = Snapshot::clone(&self.current.load_full());
        for change in &changes {
            match change {
                Write::Put(row) => {
                    if let Err(err) = apply_row(&mut next, row) {
                        tracing::warn!(%err, "a peer's change does not load; skipped");
                    }
                }
                Write::Delete { kind, id } => delete(&mut next, *kind, id),
            }
        }
        self.current.store(Arc::new(next));
        Ok(changes)
    }

    /// Under the writer lock: the whole directory loaded again (the feed no longer has what
    /// this instance missed); every object, as the changes applied.
    fn reload(&self) -> Result<Vec<Write>, DirectoryError> {
        let rows = self.store.load()?;
        let mut next = Snapshot::empty();
        for row in &rows {
            if let Err(err) = apply_row(&mut next, row) {
                tracing::warn!(%err, "a stored object does not load; skipped");
            }
        }
        self.current.store(Arc::new(next));
        tracing::info!(
            objects = rows.len(),
            "missed changes were pruned from the feed: loaded the directory whole"
        );
        Ok(rows.into_iter().map(Write::Put).collect())
    }

    fn try_commit(&self, puts: &[Object], deletes: &[(Kind, String)]) -> Result<Arc<Snapshot>, DirectoryError> {
        let before = self.current.load_full();
        let mut next = Snapshot::clone(&before);
        for object in puts {
            put(&mut next, object.clone());
        }
        for (kind, id) in deletes {
            delete(&mut next, *kind, id);
        }
        rules::check(&before, &next, puts, deletes, &self.limits)?;
        let mut writes = Vec::with_capacity(puts.len() + deletes.len());
        for object in puts {
            writes.push(Write::Put(row_of(object)?));
        }
        for (kind, id) in deletes {
            writes.push(Write::Delete {
                kind: *kind,
                id: id.clone(),
            });
        }
        self.store.commit(&writes).map_err(|err| match err {
            StoreError::Constraint(message) => {
                DirectoryError::Refused(Violation::new(constraint_field(&message), message))
            }
            other => DirectoryError::Store(other),
        })?;
        let next = Arc::new(next);
        self.current.store(next.clone());
        Ok(next)
    }
}

/// How often one change is checked again after other instances committed first.
const MAX_ATTEMPTS: usize = 8;

/// The request field a store constraint is about, by the column it names.
fn constraint_field(message: &str) -> &'static str {
    if message.contains("number") {
        "phone_number"
    } else if message.contains("trunk") {
        "trunk_id"
    } else {
        "id"
    }
}

fn row_of(object: &Object) -> Result<Row, DirectoryError> {
    let (kind, id, org_id, body) = match object {
        Object::Org(o) => (Kind::Org, &o.id, &o.id, serde_json::to_string(o)),
        Object::Trunk(t) => (Kind::Trunk, &t.id, &t.org_id, stored_trunk_json(t)),
        Object::PhoneNumber(n) => (Kind::PhoneNumber, &n.id, &n.org_id, serde_json::to_string(n)),
        Object::Agent(a) => (Kind::Agent, &a.id, &a.org_id, serde_json::to_string(a)),
        Object::AgentVersion(v) => (Kind::AgentVersion, &v.id, &v.org_id, serde_json::to_string(v)),
        Object::ApiKey(k) => (Kind::ApiKey, &k.id, &k.org_id, serde_json::to_string(k)),
        Object::RoutingConfig(c) => (Kind::RoutingConfig, &c.org_id, &c.org_id, serde_json::to_string(c)),
        Object::UserToken(t) => (Kind::UserToken, &t.id, &t.id, serde_json::to_string(t)),
    };
    let body = body.map_err(|e| DirectoryError::Encode(kind.as_str(), e))?;
    Ok(Row {
        kind,
        id: id.clone(),
        org_id: org_id.clone(),
        body,
        columns: columns_of(object),
    })
}

/// The fields the store's constraints check (its unique number and foreign keys).
fn columns_of(object: &Object) -> Vec<(&'static str, Option<String>)> {
    match object {
        Object::PhoneNumber(n) => vec![
            ("number", Some(n.phone_number.clone())),
            ("trunk_id", Some(n.trunk_id.clone())),
            ("inbound_agent_version_id", n.inbound_agent_version_id.clone()),
            ("outbound_agent_version_id", n.outbound_agent_version_id.clone()),
        ],
        Object::AgentVersion(v) => vec![("agent_id", Some(v.agent_id.clone()))],
        Object::RoutingConfig(c) => vec![("fallback_agent_id", c.fallback_agent_id.clone())],
        Object::Org(_) | Object::Trunk(_) | Object::Agent(_) | Object::ApiKey(_) | Object::UserToken(_) => Vec::new(),
    }
}

/// A trunk as stored: unlike the API view, the store keeps the write-only passwords, the
/// outbound one (to answer the carrier's challenge) and the inbound one (to check the
/// carrier's answer to ours). An empty password is not written: none is stored, and a
/// missing stored secret matches nothing (`admission`, `digest`).
fn stored_trunk_json(trunk: &Trunk) -> Result<String, serde_json::Error> {
    let mut value = serde_json::to_value(trunk)?;
    let secrets = [
        (
            "outbound_config",
            trunk.outbound_config.as_ref().map(|c| &c.auth_password),
        ),
        ("inbound_config", Some(&trunk.inbound_config.auth_password)),
    ];
    for (section, secret) in secrets {
        let (Some(config), Some(secret)) = (value.get_mut(section).and_then(|v| v.as_object_mut()), secret) else {
            continue;
        };
        if !secret.0.is_empty() {
            config.insert("auth_password".into(), serde_json::Value::String(secret.0.clone()));
        }
    }
    serde_json::to_string(&value)
}

fn apply_row(snapshot: &mut Snapshot, row: &Row) -> Result<(), DirectoryError> {
    let corrupt = |source| StoreError::Corrupt {
        kind: row.kind.as_str(),
        id: row.id.clone(),
        source,
    };
    let object = match row.kind {
        Kind::Org => Object::Org(serde_json::from_str(&row.body).map_err(corrupt)?),
        Kind::Trunk => Object::Trunk(serde_json::from_str(&row.body).map_err(corrupt)?),
        Kind::PhoneNumber => Object::PhoneNumber(serde_json::from_str(&row.body).map_err(corrupt)?),
        Kind::Agent => Object::Agent(serde_json::from_str(&row.body).map_err(corrupt)?),
        Kind::AgentVersion => Object::AgentVersion(serde_json::from_str(&row.body).map_err(corrupt)?),
        Kind::ApiKey => Object::ApiKey(serde_json::from_str(&row.body).map_err(corrupt)?),
        Kind::RoutingConfig => Object::RoutingConfig(serde_json::from_str(&row.body).map_err(corrupt)?),
        Kind::UserToken => Object::UserToken(serde_json::from_str(&row.body).map_err(corrupt)?),
    };
    put(snapshot, object);
    Ok(())
}

fn put(snapshot: &mut Snapshot, object: Object) {
    match object {
        Object::Org(o) => {
            Arc::make_mut(&mut snapshot.orgs).insert(o.id.clone(), o);
        }
        Object::Trunk(t) => {
            Arc::make_mut(&mut snapshot.trunks).insert(t.id.clone(), t);
        }
        Object::PhoneNumber(n) => snapshot.put_number(n),
        Object::Agent(a) => {
            Arc::make_mut(&mut snapshot.agents).insert(a.id.clone(), a);
        }
        Object::AgentVersion(v) => {
            Arc::make_mut(&mut snapshot.versions).insert(v.id.clone(), v);
        }
        Object::ApiKey(k) => {
            Arc::make_mut(&mut snapshot.api_keys).insert(k.hash.clone(), k);
        }
        Object::RoutingConfig(c) => {
            Arc::make_mut(&mut snapshot.routing_configs).insert(c.org_id.clone(), c);
        }
        Object::UserToken(t) => {
            Arc::make_mut(&mut snapshot.user_tokens).insert(t.hash.clone(), t);
        }
    }
}

fn delete(snapshot: &mut Snapshot, kind: Kind, id: &str) {
    match kind {
        Kind::Org => {
            Arc::make_mut(&mut snapshot.orgs).remove(id);
        }
        Kind::Trunk => {
            Arc::make_mut(&mut snapshot.trunks).remove(id);
        }
        Kind::PhoneNumber => {
            let e164 = snapshot.numbers().find(|n| n.id == id).map(|n| n.phone_number.clone());
            if let Some(e164) = e164 {
                snapshot.remove_number(&e164);
            }
        }
        Kind::Agent => {
            Arc::make_mut(&mut snapshot.agents).remove(id);
        }
        Kind::AgentVersion => {
            Arc::make_mut(&mut snapshot.versions).remove(id);
        }
        Kind::ApiKey => {
            Arc::make_mut(&mut snapshot.api_keys).retain(|_, k| k.id != id);
        }
        Kind::RoutingConfig => {
            Arc::make_mut(&mut snapshot.routing_configs).remove(id);
        }
        Kind::UserToken => {
            Arc::make_mut(&mut snapshot.user_tokens).retain(|_, t| t.id != id);
        }
    }
}

#[cfg(test)]
mod stored_secret_tests {
    use super::*;
    use model::{InboundConfig, OutboundConfig, Secret};

    fn trunk(inbound: &str, outbound: &str) -> Trunk {
        Trunk {
            id: "trk_1".into(),
            org_id: "org_1".into(),
            name: "Carrier".into(),
            managed_account_id: None,
            inbound_config: InboundConfig {
                auth_username: Some("carrier".into()),
                auth_password: Secret(inbound.into()),
                ..InboundConfig::default()
            },
            outbound_config: Some(OutboundConfig {
                address: "192.0.2.1:5060".into(),
                auth_username: "out".into(),
                auth_password: Secret(outbound.into()),
                transport: Default::default(),
                media_encryption: Default::default(),
            }),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn reloaded(trunk: Trunk) -> Trunk {
        let row = row_of(&Object::Trunk(trunk)).unwrap();
        let mut snapshot = Snapshot::empty();
        apply_row(&mut snapshot, &row).unwrap();
        snapshot.trunks.get("trk_1").unwrap().clone()
    }

    #[test]
    fn both_passwords_survive_the_store() {
        let back = reloaded(trunk("in-secret", "out-secret"));
        assert_eq!(back.inbound_config.auth_password.0, "in-secret");
        assert_eq!(back.outbound_config.unwrap().auth_password.0, "out-secret");
    }

    #[test]
    fn the_api_view_still_shows_neither_password() {
        let shown = serde_json::to_string(&trunk("in-secret", "out-secret")).unwrap();
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn an_empty_password_is_stored_as_none() {
        let row = row_of(&Object::Trunk(trunk("", "out"))).unwrap();
        let body: serde_json::Value = serde_json::from_str(&row.body).unwrap();
        assert!(body["inbound_config"].get("auth_password").is_none(), "{body}");
        assert_eq!(reloaded(trunk("", "out")).inbound_config.auth_password.0, "");
    }
}
