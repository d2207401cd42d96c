//! What outbound routing is asked about one new agent call, owned: the B2BUA hands it to
//! the shell (its `Route` output), a routing worker runs the outbound router on it off the
//! call core's lock (a carrier host never seen before may wait for its first DNS answer
//! there, never on the SIP thread), and the decision comes back to the B2BUA.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::OutboundRequest;

/// The facts of an agent's new call, learned once at the front door.
#[derive(Debug, Clone)]
pub struct OutboundQuery {
    /// `X-Switchboard-Agent-Version-Id`, trimmed.
    pub agent_version_id: Option<String>,
    /// The caller ID asked for (P-Asserted-Identity, else From user), as written.
    pub caller_id: Option<String>,
    /// The number dialled (request-URI user, else To user), as written.
    pub dialed: String,
    /// `X-Switchboard-Secret`, a view into the INVITE's bytes.
    pub secret: Option<Bytes>,
    pub source: SocketAddr,
    pub call_id: Bytes,
    /// `[routing] default_country`, as the front door read the call in: the country of a
    /// number written without `+`.
    pub country: Arc<str>,
}

impl OutboundQuery {
    /// The request the outbound router takes.
    pub fn request(&self) -> OutboundRequest<'_> {
        OutboundRequest {
            agent_version_id: self.agent_version_id.as_deref(),
            caller_id: self.caller_id.as_deref(),
            dialed: &self.dialed,
            secret: self.secret.as_deref(),
            source: self.source,
            call_id: &self.call_id,
            country: &self.country,
        }
    }
}
