//! A static route table: dialed number -> agent, loaded from a TSV file
//! (`number<TAB>agent-uuid` per line, as `../shared/bench/gen-directory.py` writes). For
//! bulk static routes and the comparison bench; the directory-backed router does the same
//! from the managed data model.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{AgentTarget, Decision, LivekitHost, Refusal, RouteKind, RouteRequest, Router};
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
}

impl Default for RoutingConfig {
    fn default() -> RoutingConfig {
        RoutingConfig {
            livekit_host: "127.0.0.1:5090".into(),
            static_routes: None,
            default_country: "1".into(),
            pinned_time: None,
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
    #[error("cannot resolve the LiveKit host {0}")]
    Resolve(String),
}

/// Numbers to agents, all answered at one LiveKit endpoint.
#[derive(Debug)]
pub struct StaticTable {
    routes: HashMap<String, String>,
    livekit_host: String,
    destination: SocketAddr,
    transport: Transport,
}

impl StaticTable {
    pub fn load(config: &RoutingConfig) -> Result<StaticTable, TableError> {
        let endpoint =
            LivekitHost::parse(&config.livekit_host).map_err(|_| TableError::Resolve(config.livekit_host.clone()))?;
        let destination = endpoint
            .with_port()
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| TableError::Resolve(config.livekit_host.clone()))?;
        let routes = match &config.static_routes {
            Some(path) => read_tsv(path)?,
            None => HashMap::new(),
        };
        Ok(StaticTable {
            routes,
            livekit_host: endpoint.host.to_owned(),
            destination,
            transport: endpoint.transport,
        })
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn read_tsv(path: &Path) -> Result<HashMap<String, String>, TableError> {
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
        let number = crate::sip::e164::normalise(number, "1").ok_or(TableError::Line {
            path: path.to_owned(),
            line: i + 1,
        })?;
        routes.insert(number, agent.trim().to_owned());
    }
    Ok(routes)
}

impl Router for StaticTable {
    fn route(&self, request: &RouteRequest<'_>) -> Decision {
        let Some(agent) = self.routes.get(request.called) else {
            return Decision::Refuse(Refusal::UnknownNumber);
        };
        Decision::Agent(Box::new(AgentTarget {
            agent_id: agent.clone(),
            agent_version: 1,
            agent_version_id: String::new(),
            org_id: "static".into(),
            trunk_id: "static".into(),
            livekit_host: self.livekit_host.clone(),
            destination: self.destination,
            transport: self.transport,
            kind: RouteKind::Static,
            headers: Vec::new(),
        }))
    }
}
