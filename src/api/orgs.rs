//! The platform side of orgs, which no org API key reaches: making an org with its first
//! API key, and pointing an org's agent legs at its own LiveKit SIP endpoint. The
//! `switchboard org` subcommands call these on the configured store.

use crate::directory::model::{ApiKey, Org};
use crate::directory::{hash_api_key, new_api_key, Directory, DirectoryError, Object, ALL_SCOPES};
use crate::routing::LivekitHost;

/// Why an org command failed.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("the org name must be 1 to 200 characters")]
    Name,
    #[error("no org {0:?}")]
    NoSuchOrg(String),
    #[error("LiveKit host {0}")]
    Host(#[from] crate::routing::BadLivekitHost),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// A new org and its first API key, shown this once (only its hash is stored).
#[derive(Debug)]
pub struct NewOrg {
    pub org_id: String,
    pub key_id: String,
    pub key: String,
}

/// Make an org named `name` with a key holding every scope.
pub fn create(directory: &Directory, name: &str, now: &str) -> Result<NewOrg, OrgError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(OrgError::Name);
    }
    let org_id = format!("org_{}", uuid::Uuid::new_v4().simple());
    let key = new_api_key();
    let key_id = format!("key_{}", uuid::Uuid::new_v4().simple());
    directory.commit(
        vec![
            Object::Org(Org {
                id: org_id.clone(),
                name: name.to_owned(),
                livekit_sip_host: None,
            }),
            Object::ApiKey(ApiKey {
                id: key_id.clone(),
                org_id: org_id.clone(),
                name: "first key".into(),
                hash: hash_api_key(&key),
                scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
                created_at: now.to_owned(),
            }),
        ],
        vec![],
    )?;
    Ok(NewOrg { org_id, key_id, key })
}

/// Set (or with `None`, clear: the global `[routing] livekit_host` then applies) the org's
/// LiveKit SIP endpoint, `host[:port][;transport=udp|tcp|tls]`.
pub fn set_livekit_host(directory: &Directory, org_id: &str, host: Option<&str>) -> Result<Org, OrgError> {
    let mut org = directory
        .snapshot()
        .orgs
        .get(org_id)
        .cloned()
        .ok_or_else(|| OrgError::NoSuchOrg(org_id.to_owned()))?;
    org.livekit_sip_host = match host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(host) => {
            LivekitHost::parse(host)?;
            Some(host.to_owned())
        }
        None => None,
    };
    directory.commit(vec![Object::Org(org.clone())], vec![])?;
    Ok(org)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory(dir: &tempfile::TempDir) -> Directory {
        let store = std::sync::Arc::new(crate::store::SqliteStore::open(&dir.path().join("s.db")).unwrap());
        Directory::load(store).unwrap()
    }

    #[test]
    fn a_new_org_gets_a_key_that_acts_for_it_and_a_livekit_host() {
        let dir = tempfile::tempdir().unwrap();
        let directory = directory(&dir);
        let made = create(&directory, " Acme ", "2026-12-06T00:00:00Z").unwrap();
        let snapshot = directory.snapshot();
        assert_eq!(snapshot.orgs[&made.org_id].name, "Acme");
        let key = &snapshot.api_keys[&hash_api_key(&made.key)];
        assert_eq!(
            (key.org_id.as_str(), key.id.as_str()),
            (made.org_id.as_str(), made.key_id.as_str())
        );
        assert!(made.key.starts_with("ak_"));
        let org = set_livekit_host(&directory, &made.org_id, Some("acme.sip.livekit.cloud;transport=tls")).unwrap();
        assert_eq!(
            org.livekit_sip_host.as_deref(),
            Some("acme.sip.livekit.cloud;transport=tls")
        );
        assert!(matches!(
            set_livekit_host(&directory, &made.org_id, Some("host;transport=carrier-pigeon")),
            Err(OrgError::Host(_))
        ));
        assert!(matches!(
            set_livekit_host(&directory, "org_nobody", Some("h")),
            Err(OrgError::NoSuchOrg(_))
        ));
        let cleared = set_livekit_host(&directory, &made.org_id, None).unwrap();
        assert_eq!(cleared.livekit_sip_host, None);
        assert!(matches!(create(&directory, "  ", "now"), Err(OrgError::Name)));
    }
}
