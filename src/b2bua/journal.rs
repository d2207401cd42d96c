//! The core's side of the dialog journal (what a crash must not lose): when a call is
//! answered its two dialogs go out as a [`JournalEntry::Up`], when it ends a
//! [`JournalEntry::Down`]; the shell keeps them durably off the SIP thread
//! (`journal/` over `store/dialog_journal.rs`). At the next start the shell hands
//! back what the last run left up, and [`B2bua::end_left_calls`] sends BYE on both legs of
//! each in client transactions (Timer E resends over UDP, Timer F gives up: RFC 3261
//! §17.1.2), so neither the carrier nor the agent stays on a call nobody bridges.
//!
//! A call is journaled when our 2xx is relayed to the leg we answer, not at that leg's ACK:
//! from the moment the 2xx leaves, both parties may hold the call up. It is not journaled
//! again on later in-dialog requests (that would put a durable write on the relay path);
//! what those change is covered instead: the CSeq by [`CSEQ_MARGIN`], and the remote
//! target and route set do not change after the answer here (no target refresh).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::call::{Call, CallKey, Leg, Side};
use super::{relay, B2bua, Peer, Role};
use crate::sip::Method;
use crate::transport::Transport;

/// Added to a journaled CSeq for the BYE after a restart: more requests than any call sends
/// in-dialog after its answer (a re-INVITE or UPDATE a second for a day is 86,400), and far
/// below 2^31 (RFC 3261 §8.1.1.5). A peer only needs a CSeq higher than the last one it saw
/// (§12.2.2); gaps are allowed.
pub const CSEQ_MARGIN: u32 = 1 << 20;

/// The calls the BYEs of a restart belong to (no call of this run: keys start at 1).
const LEFT_BY_LAST_RUN: CallKey = CallKey(0);

/// One leg's dialog as the journal keeps it: what a BYE in it needs (RFC 3261 §12.2.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: Bytes,
    pub local_tag: Bytes,
    pub remote_tag: Bytes,
    /// Our From value on this leg, without the tag.
    pub local_uri: Bytes,
    /// The peer's To value, without the tag.
    pub remote_uri: Bytes,
    pub remote_target: Bytes,
    pub route_set: Vec<Bytes>,
    /// The CSeq of our last request on this leg when the call was journaled.
    pub local_cseq: u32,
    /// Where the leg's peer was reached.
    pub peer: SocketAddr,
    pub transport: Transport,
}

/// A call the journal holds: its key (the Call-ID of the leg we placed, which we drew at
/// random, so no two calls share it) and its dialogs, the leg we answer first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledCall {
    pub key: Bytes,
    pub legs: [Dialog; 2],
}

/// What the journal must learn, in the order the core decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalEntry {
    /// A call was answered: keep it until it ends.
    Up(Box<JournaledCall>),
    /// A journaled call ended: forget it.
    Down { key: Bytes },
}

impl B2bua {
    /// Emit journal entries from now on (the shell that keeps them calls this; a core whose
    /// entries nobody drains keeps none).
    pub fn with_journal(mut self) -> B2bua {
        self.journal_on = true;
        self
    }

    /// The next journal entry, oldest first.
    pub fn poll_journal(&mut self) -> Option<JournalEntry> {
        self.journal.pop_front()
    }

    /// Send BYE on both legs of each call the last run left up. Their answers need nothing:
    /// each BYE's transaction resends it until one comes or Timer F fires.
    pub fn end_left_calls(&mut self, now: Instant, calls: &[JournaledCall]) {
        for dialog in calls.iter().flat_map(|c| c.legs.iter()) {
            let leg = dialog.to_leg();
            let (via, branch) = self.new_via(leg.peer.transport);
            let cseq = dialog.local_cseq.saturating_add(CSEQ_MARGIN).min(i32::MAX as u32);
            let bye = relay::in_dialog(&leg, Method::Bye, cseq, &via, "").build();
            self.send_request(now, LEFT_BY_LAST_RUN, Role::Fire, &bye, branch, leg.peer);
        }
    }

    /// The call `key` was answered: journal its dialogs.
    pub(super) fn journal_answered(&mut self, key: CallKey) {
        if !self.journal_on {
            return;
        }
        let Some(call) = self.calls.get(&key) else { return };
        let legs = [Side::Caller, Side::Callee].map(|side| Dialog::of(call.leg(side)));
        let key = call.callee.call_id.clone();
        self.journal
            .push_back(JournalEntry::Up(Box::new(JournaledCall { key, legs })));
    }

    /// `call` is being forgotten: unjournal it if it was journaled (answered).
    pub(super) fn journal_ended(&mut self, call: &Call) {
        if self.journal_on && !call.is_early() {
            let key = call.callee.call_id.clone();
            self.journal.push_back(JournalEntry::Down { key });
        }
    }
}

impl Dialog {
    fn of(leg: &Leg) -> Dialog {
        Dialog {
            call_id: leg.call_id.clone(),
            local_tag: leg.local_tag.clone(),
            remote_tag: leg.remote_tag.clone().unwrap_or_default(),
            local_uri: leg.local_uri.clone(),
            remote_uri: leg.remote_uri.clone(),
            remote_target: leg.remote_target.clone(),
            route_set: leg.route_set.clone(),
            local_cseq: leg.local_cseq,
            peer: leg.peer.addr,
            transport: leg.peer.transport,
        }
    }

    /// The leg to send in after a restart, with no connection to reuse.
    fn to_leg(&self) -> Leg {
        Leg {
            call_id: self.call_id.clone(),
            local_tag: self.local_tag.clone(),
            remote_tag: Some(self.remote_tag.clone()),
            local_uri: self.local_uri.clone(),
            remote_uri: self.remote_uri.clone(),
            remote_target: self.remote_target.clone(),
            route_set: self.route_set.clone(),
            local_cseq: self.local_cseq,
            peer: Peer {
                addr: self.restart_destination(),
                transport: self.transport,
                connection: None,
            },
            pending_reinvite: None,
        }
    }

    /// Where a BYE goes when the connection the peer used is gone. Over UDP, where it went
    /// before. Over TCP and TLS the peer's address may be the ephemeral port of a connection
    /// it opened (a carrier's INVITE): a new connection must go where the dialog says, the
    /// first route (loose routing) or else the remote target (RFC 3261 §12.2.1.1), when that
    /// names an IP address; a host name is not resolved here, so the old address is used.
    fn restart_destination(&self) -> SocketAddr {
        if self.transport == Transport::Udp {
            return self.peer;
        }
        let next_hop = match self.route_set.first() {
            Some(route) => relay::contact_uri(route),
            None => Some(self.remote_target.clone()),
        };
        next_hop
            .as_deref()
            .and_then(|uri| socket_addr_of(uri, self.transport))
            .unwrap_or(self.peer)
    }
}

/// The `host:port` a SIP URI names, when its host is an IP address; the transport's
/// default port when it names none.
fn socket_addr_of(uri: &[u8], transport: Transport) -> Option<SocketAddr> {
    let uri = crate::sip::Uri::parse(uri).ok()?;
    let host = std::str::from_utf8(uri.host).ok()?;
    let ip: std::net::IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    let default_port = if transport == Transport::Tls { 5061 } else { 5060 };
    Some(SocketAddr::new(ip, uri.port.unwrap_or(default_port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog(transport: Transport, target: &str, routes: &[&str]) -> Dialog {
        Dialog {
            call_id: Bytes::from_static(b"c1@carrier"),
            local_tag: Bytes::from_static(b"ours"),
            remote_tag: Bytes::from_static(b"theirs"),
            local_uri: Bytes::from_static(b"<sip:+15551234567@192.0.2.5>"),
            remote_uri: Bytes::from_static(b"\"Caller\" <sip:+14155550100@192.0.2.10>"),
            remote_target: Bytes::copy_from_slice(target.as_bytes()),
            route_set: routes.iter().map(|r| Bytes::copy_from_slice(r.as_bytes())).collect(),
            local_cseq: 3,
            peer: "192.0.2.10:40123".parse().unwrap(),
            transport,
        }
    }

    #[test]
    fn a_udp_bye_goes_where_the_leg_was_reached() {
        let d = dialog(Transport::Udp, "sip:carrier@192.0.2.99:5070", &[]);
        assert_eq!(d.restart_destination(), d.peer);
    }

    #[test]
    fn a_stream_bye_goes_to_the_first_route_else_the_remote_target_when_they_name_an_address() {
        let target = dialog(Transport::Tcp, "sip:carrier@192.0.2.99:5070;transport=tcp", &[]);
        assert_eq!(target.restart_destination(), "192.0.2.99:5070".parse().unwrap());
        let routed = dialog(
            Transport::Tcp,
            "sip:carrier@192.0.2.99:5070",
            &["<sip:192.0.2.50;lr;transport=tcp>", "<sip:192.0.2.51;lr>"],
        );
        assert_eq!(routed.restart_destination(), "192.0.2.50:5060".parse().unwrap());
        let tls = dialog(Transport::Tls, "sips:agent@[2001:db8::1]", &[]);
        assert_eq!(tls.restart_destination(), "[2001:db8::1]:5061".parse().unwrap());
        let named = dialog(Transport::Tcp, "sip:carrier@sip.carrier.example", &[]);
        assert_eq!(
            named.restart_destination(),
            named.peer,
            "host names are not resolved here"
        );
    }

    #[test]
    fn the_bye_after_a_restart_is_in_the_journaled_dialog_with_a_higher_cseq() {
        let mut b2b = B2bua::new(super::super::B2buaConfig::default(), 7);
        let call = JournaledCall {
            key: Bytes::from_static(b"k@switchboard"),
            legs: [
                dialog(Transport::Udp, "sip:carrier@192.0.2.10:5060", &["<sip:192.0.2.50;lr>"]),
                dialog(Transport::Udp, "sip:agent@192.0.2.20:5090", &[]),
            ],
        };
        b2b.end_left_calls(crate::clock::now(), &[call]);
        let sent: Vec<_> = std::iter::from_fn(|| b2b.poll_transmit()).collect();
        assert_eq!(sent.len(), 2, "one BYE per leg");
        let bye = crate::sip::Message::parse(sent[0].bytes.clone()).unwrap();
        assert_eq!(bye.method(), Some(&Method::Bye));
        assert_eq!(bye.request_uri(), Some(&b"sip:carrier@192.0.2.10:5060"[..]));
        assert_eq!(bye.call_id(), Some(&b"c1@carrier"[..]));
        assert_eq!(bye.from().unwrap().tag, Some(&b"ours"[..]));
        assert_eq!(bye.to_tag(), Some(&b"theirs"[..]));
        assert_eq!(
            bye.header(crate::sip::HeaderName::Route),
            Some(&b"<sip:192.0.2.50;lr>"[..])
        );
        assert_eq!(bye.cseq().unwrap().seq, 3 + CSEQ_MARGIN);
        assert_eq!(sent[0].to.addr, "192.0.2.10:40123".parse().unwrap());
        assert_eq!(
            b2b.transactions(),
            2,
            "each BYE is resent by its transaction until answered"
        );
    }
}
