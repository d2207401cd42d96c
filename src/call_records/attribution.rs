//! Which org and trunk a call refused before routing belongs to: the dialed number's when
//! we host it, else the trunk whose carrier addresses include the source. The source is
//! looked up in an index of the trunks' addresses (the gate's `SourceAcl`), built when the
//! first refused call needs it and again after the directory changes: a refused call costs
//! one lookup, where parsing every trunk's CIDRs for each one would let a carrier sending
//! unknown numbers outrun the writer.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::directory::{Directory, Snapshot};
use crate::security::SourceAcl;

/// The index, for the directory snapshot it was built from.
#[derive(Default)]
pub(super) struct Attribution {
    index: Option<(Arc<Snapshot>, SourceAcl)>,
}

impl Attribution {
    /// (org, trunk) of a refused call. Several trunks may share a carrier address: the org
    /// is known when they agree, the trunk only when it is the one.
    pub fn of(
        &mut self,
        directory: &Directory,
        called: Option<&str>,
        source: SocketAddr,
    ) -> (Option<String>, Option<String>) {
        let snapshot = directory.snapshot();
        if let Some(number) = called.and_then(|c| snapshot.number(c)) {
            return (Some(number.org_id.clone()), Some(number.trunk_id.clone()));
        }
        let (snapshot, acl) = match &self.index {
            Some((built, _)) if Arc::ptr_eq(built, &snapshot) => self.index.as_ref().unwrap(),
            _ => {
                let (acl, _) = SourceAcl::build(
                    snapshot
                        .trunks
                        .values()
                        .map(|t| (t.id.clone(), t.inbound_config.allowed_sources.clone())),
                );
                self.index.insert((snapshot, acl))
            }
        };
        let mut trunks = acl.owners(source.ip()).iter().filter_map(|id| snapshot.trunks.get(id));
        let Some(first) = trunks.next() else {
            return (None, None);
        };
        let mut trunk = Some(first.id.clone());
        for other in trunks {
            trunk = None;
            if other.org_id != first.org_id {
                return (None, None);
            }
        }
        (Some(first.org_id.clone()), trunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::{InboundConfig, Trunk};
    use crate::directory::Object;
    use crate::store::SqliteStore;

    fn trunk(id: &str, org: &str, sources: &[&str]) -> Object {
        Object::Trunk(Trunk {
            id: id.into(),
            org_id: org.into(),
            name: id.into(),
            managed_account_id: None,
            inbound_config: InboundConfig {
                allowed_sources: sources.iter().map(|s| s.to_string()).collect(),
                ..InboundConfig::default()
            },
            outbound_config: None,
            created_at: "t".into(),
            updated_at: "t".into(),
        })
    }

    fn from(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 5060)
    }

    #[test]
    fn refused_calls_go_to_the_number_else_to_the_trunks_that_list_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let directory = Directory::load(Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap())).unwrap();
        crate::directory::ensure_demo(&directory, "t").unwrap();
        let hosted = directory.snapshot().numbers().next().unwrap().clone();
        directory
            .commit(
                vec![
                    trunk("trk_a", "org_a", &["192.0.2.0/24"]),
                    trunk("trk_a2", "org_a", &["198.51.100.7"]),
                    trunk("trk_a3", "org_a", &["198.51.100.7"]),
                    trunk("trk_b", "org_b", &["203.0.113.9", "198.51.100.99"]),
                    trunk("trk_c", "org_c", &["198.51.100.99"]),
                ],
                vec![],
            )
            .unwrap();
        let mut attribution = Attribution::default();
        let mut of = |called: Option<&str>, ip: &str| attribution.of(&directory, called, from(ip));
        let some = |org: &str, trunk: Option<&str>| (Some(org.to_owned()), trunk.map(str::to_owned));
        assert_eq!(
            of(Some(&hosted.phone_number), "203.0.113.9"),
            some(&hosted.org_id, Some(&hosted.trunk_id)),
            "a hosted number decides, whatever the source"
        );
        assert_eq!(of(Some("+19995550000"), "192.0.2.44"), some("org_a", Some("trk_a")));
        assert_eq!(of(None, "198.51.100.7"), some("org_a", None), "two trunks of one org");
        assert_eq!(of(None, "198.51.100.99"), (None, None), "trunks of two orgs");
        assert_eq!(of(None, "192.0.3.1"), (None, None), "nobody's address");
        // After a change, the index follows the directory.
        directory
            .commit(vec![trunk("trk_b", "org_b", &["192.0.3.0/24"])], vec![])
            .unwrap();
        assert_eq!(of(None, "192.0.3.1"), some("org_b", Some("trk_b")));
    }
}
