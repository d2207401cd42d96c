//! One leg of a call: exactly the dialog state RFC 3261 §12 needs to send requests in it,
//! learned from the INVITE that opened it and the answers that established it, and the
//! re-INVITE relayed onto it until that is ACKed. It refuses to know the other leg (that is
//! the call's) or to send anything (that is the B2BUA's).

use bytes::Bytes;

use super::relay;
use super::Peer;
use crate::sip::{HeaderName, Message};

/// Which leg, by its role in the call whatever the direction (see `call.rs`): the caller's
/// leg is the one we answer (we are its UAS), the callee's the one we place (its UAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Caller,
    Callee,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Caller => Side::Callee,
            Side::Callee => Side::Caller,
        }
    }
}

/// One side's dialog (RFC 3261 §12.1).
#[derive(Debug)]
pub struct Leg {
    pub call_id: Bytes,
    pub local_tag: Bytes,
    pub remote_tag: Option<Bytes>,
    /// Our From/To value on this leg, without the tag.
    pub local_uri: Bytes,
    /// The peer's From/To value, without the tag.
    pub remote_uri: Bytes,
    /// Where in-dialog requests are addressed (the peer's Contact).
    pub remote_target: Bytes,
    pub route_set: Vec<Bytes>,
    pub local_cseq: u32,
    /// Where this leg's peer is reached (and the connection it used).
    pub peer: Peer,
    /// The re-INVITE we relayed onto this leg, until its 2xx is ACKed end to end.
    pub pending_reinvite: Option<Box<PendingReinvite>>,
}

/// A re-INVITE relayed onto a leg. The answering UA resends its 2xx until it sees an ACK
/// (RFC 3261 §13.3.1.4); each resend is passed on to the requester as our 2xx again until
/// the requester ACKs, and answered with our ACK again after that. So loss on either leg is
/// repaired by the UA that owns the retransmission, with no timer of ours.
#[derive(Debug)]
pub struct PendingReinvite {
    /// The CSeq of our re-INVITE on this leg (the ACK repeats it, RFC 3261 §13.2.2.4).
    pub cseq: u32,
    /// Our relayed 2xx to the requester on the other leg, and where it goes.
    pub ok: Option<(Bytes, Peer)>,
    /// Our ACK on this leg, once the requester has ACKed.
    pub ack: Option<Bytes>,
}

impl Leg {
    /// The leg we answer, from the INVITE that opens it (RFC 3261 §12.1.1), with our tag.
    pub fn answering(invite: &Message, from: Peer, local_tag: Bytes) -> Leg {
        Leg {
            call_id: Bytes::copy_from_slice(invite.call_id().unwrap_or_default()),
            local_tag,
            remote_tag: invite.from_tag().map(Bytes::copy_from_slice),
            local_uri: relay::without_tag(invite.header(HeaderName::To).unwrap_or_default()),
            remote_uri: relay::without_tag(invite.header(HeaderName::From).unwrap_or_default()),
            remote_target: invite
                .header(HeaderName::Contact)
                .and_then(relay::contact_uri)
                .unwrap_or_else(|| Bytes::copy_from_slice(invite.request_uri().unwrap_or_default())),
            route_set: invite
                .headers(HeaderName::RecordRoute)
                .map(Bytes::copy_from_slice)
                .collect(),
            local_cseq: 0,
            peer: from,
            pending_reinvite: None,
        }
    }

    /// On the leg we placed, learn the peer's tag, target and route set from a response
    /// to our INVITE (RFC 3261 §12.1.2: the route set is the Record-Route reversed).
    pub fn learn_remote(&mut self, response: &Message) {
        // A 180 and the 200 usually repeat the tag and Contact: keep what is known.
        if let Some(tag) = response.to_tag().filter(|t| self.remote_tag.as_deref() != Some(*t)) {
            self.remote_tag = Some(Bytes::copy_from_slice(tag));
        }
        if let Some(target) = response.header(HeaderName::Contact).and_then(relay::contact_uri_of) {
            if target != &self.remote_target[..] {
                self.remote_target = Bytes::copy_from_slice(target);
            }
        }
        if response.count(HeaderName::RecordRoute) > 0 {
            let mut routes: Vec<Bytes> = response
                .headers(HeaderName::RecordRoute)
                .map(Bytes::copy_from_slice)
                .collect();
            routes.reverse();
            self.route_set = routes;
        }
    }

    /// The CSeq of our next request on this leg (RFC 3261 §12.2.1.1: one more each time).
    pub fn next_cseq(&mut self) -> u32 {
        self.local_cseq += 1;
        self.local_cseq
    }

    /// What a resend of the 2xx to the re-INVITE relayed onto this leg calls for: our ACK
    /// again once the requester has ACKed, else our relayed 2xx to the requester again.
    pub fn reinvite_resend(&self) -> Option<(Bytes, Peer)> {
        let pending = self.pending_reinvite.as_deref()?;
        match (&pending.ack, &pending.ok) {
            (Some(ack), _) => Some((ack.clone(), self.peer)),
            (None, Some((ok, to))) => Some((ok.clone(), *to)),
            (None, None) => None,
        }
    }

    /// Whether a re-INVITE relayed onto this leg still awaits its final answer.
    pub fn reinvite_unanswered(&self) -> bool {
        self.pending_reinvite
            .as_deref()
            .is_some_and(|p| p.ok.is_none() && p.ack.is_none())
    }
}
