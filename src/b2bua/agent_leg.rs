//! The agent leg's INVITE: a new request, never an edited copy of the carrier's, so no Via,
//! Contact, Record-Route or Call-ID of the carrier's side crosses over. It carries the
//! caller's identity and diversion headers and every `X-` header as written and in order,
//! the SDP unchanged, and our `X-Switchboard-*` facts about the route. Also here: the dialed
//! and calling numbers the route is looked up by.
//!
//! It refuses to choose the agent (that is `routing`) or to touch the SDP.

use super::relay::{carry, tagged};
use crate::routing::AgentTarget;
use crate::sip::{e164, Decimal, HeaderName, Message, Method, RequestBuilder, Uri};
use crate::transport::Transport;

/// Headers the agent leg's INVITE carries over from the carrier's, all of them, in order.
const CARRIED_ON_INVITE: &[HeaderName] = &[
    HeaderName::PAssertedIdentity,
    HeaderName::RemotePartyId,
    HeaderName::Privacy,
    HeaderName::Diversion,
    HeaderName::HistoryInfo,
    HeaderName::Identity,
    HeaderName::UserToUser,
    HeaderName::Supported,
    HeaderName::Require,
    HeaderName::SessionExpires,
    HeaderName::MinSe,
    HeaderName::Allow,
];

/// RFC 3261 §18.1.1: a request larger than 1,300 bytes, the path MTU unknown, goes over a
/// congestion-controlled transport (TCP) rather than as a fragmented UDP datagram.
pub const UDP_MAX_REQUEST: usize = 1300;

/// The facts of the new agent leg.
pub struct AgentInvite<'a> {
    pub carrier_invite: &'a Message,
    pub target: &'a AgentTarget,
    pub via: &'a str,
    pub from: &'a [u8],
    pub local_tag: &'a [u8],
    pub call_id: &'a [u8],
    pub contact: &'a str,
    pub max_forwards: u8,
    pub called: &'a str,
    pub calling: &'a str,
}

/// The INVITE to `sip:<agent_id>@<livekit host>`, written once into a buffer of its size.
pub fn agent_invite(a: &AgentInvite<'_>) -> Message {
    let t = a.target;
    let (id, host) = (t.agent_id.as_bytes(), t.livekit_host.as_bytes());
    // The endpoint's transport is named in the URI as configured (RFC 3261 §19.1.1); a UDP
    // endpoint reached over TCP for size says so in the Via only.
    let transport: &[u8] = match t.transport {
        Transport::Udp => b"",
        Transport::Tcp => b";transport=tcp",
        Transport::Tls => b";transport=tls",
    };
    let ours: usize = t.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let capacity = a.carrier_invite.raw().len() + ours + 768;
    let mut b = RequestBuilder::from_parts(Method::Invite, &[b"sip:", id, b"@", host, transport], capacity)
        .header(HeaderName::Via, a.via)
        .header(HeaderName::MaxForwards, Decimal::from(a.max_forwards))
        .header_parts(HeaderName::From, &tagged(a.from, a.local_tag))
        .header_parts(HeaderName::To, &[b"<sip:", id, b"@", host, transport, b">"])
        .header(HeaderName::CallId, a.call_id)
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, a.contact);
    b = carry(a.carrier_invite, b, CARRIED_ON_INVITE);
    b = b
        .raw_header(b"X-Switchboard-Agent-Version", Decimal::from(t.agent_version))
        .raw_header(b"X-Switchboard-Agent-Version-Id", &t.agent_version_id)
        .raw_header(b"X-Switchboard-Org", &t.org_id)
        .raw_header(b"X-Switchboard-Trunk", &t.trunk_id)
        .raw_header(b"X-Switchboard-Called", a.called)
        .raw_header(b"X-Switchboard-Calling", a.calling)
        .raw_header(b"X-Switchboard-Route", t.kind.label());
    for (name, value) in &t.headers {
        b = b.raw_header(name.as_bytes(), value);
    }
    if let Some(ct) = a.carrier_invite.content_type() {
        b = b.header(HeaderName::ContentType, ct);
    }
    b.body(a.carrier_invite.body_bytes()).build()
}

/// The dialed number: the request-URI's user part, else the To URI's, in E.164 (a national
/// number is taken to be in `country`, `[routing] default_country`).
pub fn dialed_number(invite: &Message, country: &str) -> Option<String> {
    let in_uri = invite
        .request_uri()
        .and_then(|u| Uri::parse(u).ok())
        .and_then(|u| u.user)
        .and_then(|user| e164::normalise_bytes(user, country));
    in_uri.or_else(|| {
        let to = invite.to().ok()?;
        e164::normalise_bytes(to.uri.user?, country)
    })
}

/// The caller's number: P-Asserted-Identity's user, else From's, in E.164 when it is a
/// phone number (national in `country`), else as written.
pub fn calling_number(invite: &Message, country: &str) -> Option<String> {
    let pai = invite
        .header(HeaderName::PAssertedIdentity)
        .and_then(|v| crate::sip::NameAddr::parse(v, "P-Asserted-Identity").ok())
        .and_then(|n| n.uri.user);
    let from = invite.from().ok();
    let user = pai.or_else(|| from.as_ref()?.uri.user)?;
    e164::normalise_bytes(user, country).or_else(|| Some(String::from_utf8_lossy(user).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(uri: &str, to: &str, pai: Option<&str>) -> Message {
        let mut b = RequestBuilder::new(Method::Invite, uri.as_bytes())
            .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
            .header(HeaderName::From, "<sip:4155550100@192.0.2.1>;tag=f")
            .header(HeaderName::To, to)
            .header(HeaderName::CallId, "c")
            .header(HeaderName::CSeq, "1 INVITE");
        if let Some(pai) = pai {
            b = b.header(HeaderName::PAssertedIdentity, pai);
        }
        b.build()
    }

    #[test]
    fn the_dialed_number_comes_from_the_request_uri_else_the_to_header_in_e164() {
        let m = invite("sip:5551234567@192.0.2.5", "<sip:+19998887777@x>", None);
        assert_eq!(dialed_number(&m, "1").as_deref(), Some("+15551234567"));
        let m = invite("sip:192.0.2.5", "<sip:15551234567@192.0.2.5>", None);
        assert_eq!(
            dialed_number(&m, "1").as_deref(),
            Some("+15551234567"),
            "falls back to To"
        );
        let m = invite("sip:192.0.2.5", "<sip:192.0.2.5>", None);
        assert_eq!(dialed_number(&m, "1"), None);
    }

    #[test]
    fn a_national_number_is_read_in_the_configured_country() {
        let m = invite(
            "sip:2071838750@192.0.2.5",
            "<sip:x@x>",
            Some("<sip:1614960000@carrier>"),
        );
        assert_eq!(dialed_number(&m, "44").as_deref(), Some("+442071838750"));
        assert_eq!(calling_number(&m, "44").as_deref(), Some("+441614960000"));
        assert_eq!(dialed_number(&m, "1").as_deref(), Some("+12071838750"));
        let m = invite("sip:+15551234567@x", "<sip:x@x>", None);
        assert_eq!(
            dialed_number(&m, "44").as_deref(),
            Some("+15551234567"),
            "+ is international"
        );
    }

    #[test]
    fn the_calling_number_prefers_p_asserted_identity_over_from() {
        let m = invite("sip:+15551234567@x", "<sip:x@x>", Some("<sip:+14155550199@carrier>"));
        assert_eq!(calling_number(&m, "1").as_deref(), Some("+14155550199"));
        let m = invite("sip:+15551234567@x", "<sip:x@x>", None);
        assert_eq!(calling_number(&m, "1").as_deref(), Some("+14155550100"));
    }
}
