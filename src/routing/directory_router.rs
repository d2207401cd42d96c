//! Static routing from the directory snapshot (DESIGN.md's precedence, step 2 and 3): the
//! dialed number's inbound agent version answers; a hosted number without one gets 480; a
//! number we do not host gets 404 (or the static route table's answer, when one is loaded).

use std::sync::Arc;

use super::{
    AgentTarget, Decision, HostLookup, Literal, LivekitHost, Reach, Refusal, RouteKind, RouteRequest, Router,
    StaticTable, Workflows,
};
use crate::directory::Directory;
use crate::metrics::LocalCounters;
use crate::transport::{TlsNames, Transport};

/// Routes by the directory, then by the static table.
pub struct DirectoryRouter {
    directory: Arc<Directory>,
    fallback: Option<StaticTable>,
    default_host: String,
    /// LiveKit hosts' addresses, as the shell's resolver last found them.
    hosts: Arc<dyn HostLookup>,
    workflows: Option<Arc<Workflows>>,
    /// `routing_lookups_total`, registered once (a `counter!` per call looks the name up).
    lookups: Arc<LocalCounters>,
    /// Where the names of LiveKit hosts reached over TLS are remembered, so that their
    /// certificates are checked against the name, not the address.
    tls_names: Option<Arc<TlsNames>>,
}

impl DirectoryRouter {
    pub fn new(directory: Arc<Directory>, default_host: String, fallback: Option<StaticTable>) -> DirectoryRouter {
        DirectoryRouter {
            directory,
            fallback,
            default_host,
            hosts: Arc::new(Literal),
            workflows: None,
            lookups: LocalCounters::new(vec![metrics::counter!("routing_lookups_total")]),
            tls_names: None,
        }
    }

    /// Remember TLS hosts' names here (the dispatcher's TLS client checks certificates by them).
    pub fn with_tls_names(mut self, names: Arc<TlsNames>) -> DirectoryRouter {
        self.tls_names = Some(names);
        self
    }

    /// Find LiveKit hosts' addresses in `hosts` (without it, only IP literals are reached).
    pub fn with_lookup(mut self, hosts: Arc<dyn HostLookup>) -> DirectoryRouter {
        self.hosts = hosts;
        self
    }

    /// Route orgs with an enabled routing config through their workflow.
    pub fn with_workflows(mut self, workflows: Arc<Workflows>) -> DirectoryRouter {
        self.workflows = Some(workflows);
        self
    }

    /// The decision; `None` only when `reach` is [`Reach::Known`] and the call needs a
    /// routing worker (its org's workflow to run, or a host not resolved yet).
    fn decide(&self, request: &RouteRequest<'_>, reach: Reach) -> Option<Decision> {
        let snapshot = self.directory.snapshot();
        let Some(number) = snapshot.number(request.called) else {
            return match &self.fallback {
                Some(table) => table.decide(request, reach),
                None => Some(Decision::Refuse(Refusal::UnknownNumber)),
            };
        };
        // DESIGN.md's decision tree: an enabled routing config runs the org's workflow;
        // without one (or disabled) the number's own inbound agent answers.
        let config = snapshot.routing_configs.get(&number.org_id).filter(|c| c.enabled);
        let (version, kind, headers) = match (config, &self.workflows) {
            (Some(_), Some(_)) if reach == Reach::Known => return None,
            (Some(config), Some(workflows)) => match workflows.route(&snapshot, config, number, request) {
                Ok(chosen) => (chosen.version, chosen.kind, chosen.headers),
                Err(refusal) => return Some(Decision::Refuse(refusal)),
            },
            _ => {
                let version = number
                    .inbound_agent_version_id
                    .as_ref()
                    .and_then(|id| snapshot.versions.get(id));
                let Some(version) = version.filter(|v| v.published) else {
                    return Some(Decision::Refuse(Refusal::NoAgent));
                };
                (version, RouteKind::Static, Vec::new())
            }
        };
        let org = snapshot.orgs.get(&number.org_id);
        let host = org
            .and_then(|o| o.livekit_sip_host.as_deref())
            .unwrap_or(&self.default_host);
        let no_destination = Some(Decision::Refuse(Refusal::NoDestination));
        let Ok(endpoint) = LivekitHost::parse(host) else {
            return no_destination;
        };
        let Some(name) = endpoint.host_name() else {
            return no_destination;
        };
        let Some(destination) = reach.find(&*self.hosts, &name) else {
            return no_destination.filter(|_| reach == Reach::Wait);
        };
        if let (Transport::Tls, Some(names)) = (endpoint.transport, &self.tls_names) {
            names.remember(destination, endpoint.name());
        }
        Some(Decision::Agent(Box::new(AgentTarget {
            agent_id: version.agent_id.clone(),
            agent_version: version.version,
            agent_version_id: version.id.clone(),
            org_id: number.org_id.clone(),
            trunk_id: number.trunk_id.clone(),
            livekit_host: endpoint.host.to_owned(),
            destination,
            transport: endpoint.transport,
            kind,
            headers,
        })))
    }
}

impl Router for DirectoryRouter {
    fn org_of(&self, called: &str) -> Option<String> {
        Some(self.directory.snapshot().number(called)?.org_id.clone())
    }

    fn route(&self, request: &RouteRequest<'_>) -> Decision {
        self.lookups.increment(0);
        // Waiting for what it needs, it always decides.
        self.decide(request, Reach::Wait)
            .unwrap_or(Decision::Refuse(Refusal::NoDestination))
    }

    fn quick(&self, request: &RouteRequest<'_>) -> Option<Decision> {
        let decision = self.decide(request, Reach::Known)?;
        self.lookups.increment(0);
        Some(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use std::net::SocketAddr;

    fn request(called: &str) -> RouteRequest<'_> {
        RouteRequest {
            called,
            caller: "+14155550100",
            caller_name: None,
            source: "127.0.0.1:5060".parse().unwrap(),
            call_id: b"c",
            invite: None,
            now: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_demo_directory_routes_its_numbers_by_their_inbound_slot() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let directory = Arc::new(Directory::load(store).unwrap());
        assert!(crate::directory::ensure_demo(&directory, "2026-01-01T00:00:00Z")
            .unwrap()
            .is_some());
        let router = DirectoryRouter::new(directory.clone(), "127.0.0.1:5090".into(), None);
        match router.route(&request("+15551234567")) {
            Decision::Agent(t) => {
                assert_eq!(t.agent_id, crate::directory::DEMO_AGENT_ID);
                assert_eq!(
                    (t.agent_version, t.trunk_id.as_str(), t.org_id.as_str()),
                    (1, "trk_demo_byoc", "org_demo")
                );
                assert_eq!(t.destination, "127.0.0.1:5090".parse().unwrap());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            router.route(&request("+15557654321")),
            Decision::Refuse(Refusal::NoAgent)
        ));
        assert!(matches!(
            router.route(&request("+15550000000")),
            Decision::Refuse(Refusal::UnknownNumber)
        ));
    }

    /// Knows every name, but only once a worker has waited for it (`peek` finds nothing).
    struct NotYetResolved;

    impl HostLookup for NotYetResolved {
        fn lookup(&self, host: &crate::routing::HostName<'_>) -> Option<SocketAddr> {
            Some(SocketAddr::new([127, 0, 0, 9].into(), host.port.unwrap_or(5060)))
        }
    }

    #[test]
    fn quick_decides_what_needs_no_wait_and_leaves_an_unresolved_host_to_a_worker() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let directory = Arc::new(Directory::load(store).unwrap());
        crate::directory::ensure_demo(&directory, "t").unwrap();
        let literal = DirectoryRouter::new(directory.clone(), "127.0.0.1:5090".into(), None);
        let agent = |d: Option<Decision>| match d {
            Some(Decision::Agent(t)) => Some(t.destination),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            agent(literal.quick(&request("+15551234567"))),
            Some("127.0.0.1:5090".parse().unwrap())
        );
        assert!(matches!(
            literal.quick(&request("+15557654321")),
            Some(Decision::Refuse(Refusal::NoAgent))
        ));
        assert!(matches!(
            literal.quick(&request("+15550000000")),
            Some(Decision::Refuse(Refusal::UnknownNumber))
        ));
        let named = DirectoryRouter::new(directory, "lk.test:5090".into(), None).with_lookup(Arc::new(NotYetResolved));
        assert!(
            named.quick(&request("+15551234567")).is_none(),
            "not resolved yet: a worker waits for it"
        );
        assert_eq!(
            agent(Some(named.route(&request("+15551234567")))),
            Some("127.0.0.9:5090".parse().unwrap())
        );
        assert!(
            matches!(
                named.quick(&request("+15550000000")),
                Some(Decision::Refuse(Refusal::UnknownNumber))
            ),
            "a refusal needs no host"
        );
    }

    #[test]
    fn a_committed_write_is_visible_to_routing_at_once_and_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let directory = Arc::new(Directory::load(Arc::new(SqliteStore::open(&path).unwrap())).unwrap());
        crate::directory::ensure_demo(&directory, "t").unwrap();
        let router = DirectoryRouter::new(directory.clone(), "127.0.0.1:5090".into(), None);
        let mut number = (**directory.snapshot().number("+15557654321").unwrap()).clone();
        number.inbound_agent_version_id = Some("ver_demo_1".into());
        directory
            .commit(vec![crate::directory::Object::PhoneNumber(number)], vec![])
            .unwrap();
        assert!(
            matches!(router.route(&request("+15557654321")), Decision::Agent(_)),
            "visible right after the commit"
        );
        drop(router);
        drop(directory);
        let reopened = Arc::new(Directory::load(Arc::new(SqliteStore::open(&path).unwrap())).unwrap());
        let router = DirectoryRouter::new(reopened, "127.0.0.1:5090".into(), None);
        assert!(
            matches!(router.route(&request("+15557654321")), Decision::Agent(_)),
            "and durable"
        );
    }
}
