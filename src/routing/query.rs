//! What routing is asked about one new inbound call, owned: the B2BUA hands it to the
//! shell (its `Route` output), the shell runs the router on a worker with it, off the
//! call core's lock, and the decision comes back to the B2BUA.

use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;

use super::RouteRequest;
use crate::sip::Message;

/// The facts of a new inbound call, learned once at the front door.
#[derive(Debug, Clone)]
pub struct RouteQuery {
    /// The dialed number, normalised to E.164.
    pub called: String,
    /// The caller's number as sent (empty when there is none).
    pub caller: String,
    pub caller_name: Option<String>,
    pub source: SocketAddr,
    pub call_id: Bytes,
    /// The INVITE, for a workflow's `header.<Name>` keys.
    pub invite: Message,
}

impl RouteQuery {
    /// The request a router takes, at wall-clock time `now`.
    pub fn request(&self, now: SystemTime) -> RouteRequest<'_> {
        RouteRequest {
            called: &self.called,
            caller: &self.caller,
            caller_name: self.caller_name.as_deref(),
            source: self.source,
            call_id: &self.call_id,
            invite: Some(&self.invite),
            now,
        }
    }
}
