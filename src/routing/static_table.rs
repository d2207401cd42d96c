//! A static route table: dialed number -> agent, loaded from a TSV file
//! (`number<TAB>agent-uuid` per line, as `../shared/bench/gen-directory.py` writes). For
//! bulk static routes and the comparison bench; the directory-backed router does the same
//! from the managed data model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::{
    AgentTarget, Decision, HostLookup, HostName, Literal, LivekitHost, Reach, Refusal, RouteKind, RouteRequest, Router,
};
use crate::transport::Transport;

/// `[routing]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// The LiveKit SIP endpoint agent legs go to (`host[:port][;transport=udp|tcp|tls]`),
    /// unless an org sets its own.
    pub livekit_host: String,
    /// Optional TSV of static routes, `number<TAB>agent-uuid`.
    pub static_routes: Option<PathBuf>,
    /// Country code for numbers that arrive without `+`.
    pub default_country: String,
    /// Pin the wall clock routing workflows see (RFC 3339), for tests and demos; unset, they
    /// see the real time.
    pub pinned_time: Option<String>,
    /// Threads that decide new calls' routes that need a workflow run or a host's first DNS
    /// answer, off the call core (cheap routes are decided on the SIP thread, `Router::quick`).
    /// 0: no workers, each route is decided on the SIP thread that received the call
    /// (outside the core's lock), for measuring what the handoff costs.
    pub workers: usize,
    /// Workers one org's calls may hold at once: a slow workflow cannot take them all.
    pub org_workers: usize,
    /// Calls of one org that may wait for a worker beyond those; the next gets 503 at once.
    pub org_queue: usize,
}

impl Default for RoutingConfig {
    fn default() -> RoutingConfig {
        RoutingConfig {
            livekit_host: "127.0.0.1:5090".into(),
            static_routes: None,
            default_country: "1".into(),
            pinned_time: None,
            workers: 4,
            org_workers: 2,
            org_queue: 32,
        }
    }
}

/// Why a route table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: expected `number<TAB>agent-uuid`")]
    Line { path: PathBuf, line: usize },
    #[error("the LiveKit host {0} is not host[:port][;transport=udp|tcp|tls]")]
    Resolve(String),
}

/// Numbers to agents, all answered at one LiveKit endpoint.
pub struct StaticTable {
    routes: HashMap<String, String>,
    /// `host[:port]` as written (the request-URI names it so).
    livekit_host: String,
    /// The host's name (or IP literal) and port, for the lookup.
    name: String,
    port: Option<u16>,
    transport: Transport,
    /// Where the host is, as the shell's resolver last found it.
    hosts: Arc<dyn HostLookup>,
}

impl std::fmt::Debug for StaticTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticTable")
            .field("routes", &self.routes.len())
            .field("livekit_host", &self.livekit_host)
            .finish()
    }
}

impl StaticTable {
    /// The table and its endpoint; a host name is looked up per call in the lookup given by
    /// [`StaticTable::with_lookup`] (IP literals only without one).
    pub fn load(config: &RoutingConfig) -> Result<StaticTable, TableError> {
        let bad = || TableError::Resolve(config.livekit_host.clone());
        let endpoint = LivekitHost::parse(&config.livekit_host).map_err(|_| bad())?;
        let host = endpoint.host_name().ok_or_else(bad)?;
        let routes = match &config.static_routes {
            Some(path) => read_tsv(path, &config.default_country)?,
            None => HashMap::new(),
        };
        Ok(StaticTable {
            routes,
            livekit_host: endpoint.host.to_owned(),
            name: host.name.to_owned(),
            port: host.port,
            transport: endpoint.transport,
            hosts: Arc::new(Literal),
        })
    }

    /// Look the LiveKit host up in `hosts`.
    pub fn with_lookup(mut self, hosts: Arc<dyn HostLookup>) -> StaticTable {
        self.hosts = hosts;
        self
    }

    /// The LiveKit host, for the resolver to keep fresh.
    pub fn host_name(&self) -> HostName<'_> {
        HostName {
            name: &self.name,
            port: self.port,
            transport: self.transport,
        }
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// The table's numbers in E.164 (a national one in `country`).
fn read_tsv(path: &Path, country: &str) -> Result<HashMap<String, String>, TableError> {
    let text = std::fs::read_to_string(path).map_err(|source| TableError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut routes = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut cols = line.split('\t');
        let (Some(number), Some(agent)) = (cols.next(), cols.next()) else {
            return Err(TableError::Line {
                path: path.to_owned(),
                line: i + 1,
            });
        };
        let number = crate::sip::e164::normalise(number, country).ok_or(TableError::Line {
            path: path.to_owned(),
            line: i + 1,
        })?;
        routes.insert(number, agent.trim().to_owned());
    }
    Ok(routes)
}

impl StaticTable {
    /// The decision; `None` only when `reach` is [`Reach::Known`] and the host's address is
    /// not known yet.
    pub(crate) fn decide(&self, request: &RouteRequest<'_>, reach: Reach) -> Option<Decision> {
        let Some(agent) = self.routes.get(request.called) else {
            return Some(Decision::Refuse(Refusal::UnknownNumber));
        };
        let Some(destination) = reach.find(&*self.hosts, &self.host_name()) else {
            return (reach == Reach::Wait).then_some(Decision::Refuse(Refusal::NoDestination));
        };
        Some(Decision::Agent(Box::new(AgentTarget {
            agent_id: agent.clone(),
            agent_version: 1,
            agent_version_id: String::new(),
            org_id: "static".into(),
            trunk_id: "static".into(),
            livekit_host: self.livekit_host.clone(),
            destination,
            transport: self.transport,
            kind: RouteKind::Static,
            headers: Vec::new(),
        })))
    }
}

impl Router for StaticTable {
    fn route(&self, request: &RouteRequest<'_>) -> Decision {
        // Waiting for the host's first answer, it always decides.
        self.decide(request, Reach::Wait)
            .unwrap_or(Decision::Refuse(Refusal::NoDestination))
    }

    fn quick(&self, request: &RouteRequest<'_>) -> Option<Decision> {
        self.decide(request, Reach::Known)
    }
}
