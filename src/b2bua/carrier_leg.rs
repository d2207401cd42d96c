//! The carrier leg's INVITE on an outbound call: a new request, never an edited copy of the
//! agent's, so nothing of LiveKit's side (Via, Contact, Record-Route, Call-ID, `X-`
//! headers, our own `X-Switchboard-*` facts) reaches the carrier. It is addressed
//! `sip:<dialled E.164>@<trunk address>` (with `;transport=` for TCP and TLS, RFC 3261
//! §19.1.1), From and P-Asserted-Identity name the allowed caller ID at our host (RFC 3325:
//! carriers take the caller ID from P-Asserted-Identity on a trusted trunk, from From
//! otherwise), and it carries the SDP unchanged with the few headers that negotiate the
//! session (privacy, extensions, session timers, user-to-user).
//!
//! It refuses to decide the trunk or the caller ID (that is `routing::outbound`) or to
//! touch the SDP.

use super::relay::{tagged, HeaderSet};
use crate::routing::outbound::CarrierTarget;
use crate::sip::{Decimal, HeaderName, Message, Method, RequestBuilder};
use crate::transport::Transport;

/// Headers the carrier's INVITE carries over from the agent's, in order.
const CARRIED_TO_CARRIER: &[HeaderName] = &[
    HeaderName::Privacy,
    HeaderName::UserToUser,
    HeaderName::Supported,
    HeaderName::Require,
    HeaderName::SessionExpires,
    HeaderName::MinSe,
    HeaderName::Allow,
];

/// The facts of the new carrier leg.
pub struct CarrierInvite<'a> {
    pub agent_invite: &'a Message,
    pub target: &'a CarrierTarget,
    pub via: &'a str,
    /// Our From value (without tag): see [`from_value`].
    pub from: &'a str,
    pub local_tag: &'a [u8],
    pub call_id: &'a [u8],
    pub contact: &'a str,
    /// `host:port` we are reached at on this transport, for P-Asserted-Identity.
    pub host: &'a str,
    pub max_forwards: u8,
}

/// The request-URI (and To URI) of the carrier leg.
pub fn request_uri(target: &CarrierTarget) -> String {
    let transport = match target.transport {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
        Transport::Tls => ";transport=tls",
    };
    format!("sip:{}@{}{transport}", target.dialed, target.host)
}

/// Our From on the carrier leg: the caller ID at our host, with the agent's display name
/// when it sent one (quotes removed, so it cannot break out of the quoted string).
pub fn from_value(agent_invite: &Message, caller_id: &str, host: &str) -> String {
    let display = agent_invite.from().ok().and_then(|f| f.display).map(|d| {
        String::from_utf8_lossy(d)
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
            .collect::<String>()
    });
    match display.filter(|d| !d.trim().is_empty()) {
        Some(name) => format!("\"{}\" <sip:{caller_id}@{host}>", name.trim()),
        None => format!("<sip:{caller_id}@{host}>"),
    }
}

/// The INVITE to the carrier, written once into a buffer of its size.
pub fn carrier_invite(c: &CarrierInvite<'_>) -> Message {
    let t = c.target;
    let (dialed, host) = (t.dialed.as_bytes(), t.host.as_bytes());
    let transport: &[u8] = match t.transport {
        Transport::Udp => b"",
        Transport::Tcp => b";transport=tcp",
        Transport::Tls => b";transport=tls",
    };
    let capacity = c.agent_invite.raw().len() + 768;
    let mut b = RequestBuilder::from_parts(Method::Invite, &[b"sip:", dialed, b"@", host, transport], capacity)
        .header(HeaderName::Via, c.via)
        .header(HeaderName::MaxForwards, Decimal::from(c.max_forwards))
        .header_parts(HeaderName::From, &tagged(c.from.as_bytes(), c.local_tag))
        .header_parts(HeaderName::To, &[b"<sip:", dialed, b"@", host, transport, b">"])
        .header(HeaderName::CallId, c.call_id)
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, c.contact)
        .header_parts(
            HeaderName::PAssertedIdentity,
            &[b"<sip:", t.caller_id.as_bytes(), b"@", c.host.as_bytes(), b">"],
        );
    // The listed headers only: unlike the agent leg, no `X-` header goes to a carrier.
    let carried = const { HeaderSet::of(CARRIED_TO_CARRIER) };
    b = b.copy_headers(c.agent_invite, |name, _| carried.has(name));
    if let Some(ct) = c.agent_invite.content_type() {
        b = b.header(HeaderName::ContentType, ct);
    }
    b.body(c.agent_invite.body_bytes()).build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::MediaEncryption;
    use crate::routing::outbound::TrunkLimits;

    fn target(transport: Transport) -> CarrierTarget {
        CarrierTarget {
            org_id: "org".into(),
            trunk_id: "trk".into(),
            number_id: "pn".into(),
            agent_id: "agent".into(),
            agent_version_id: "ver".into(),
            caller_id: "+14155550101".into(),
            dialed: "+12125551234".into(),
            host: "sip.carrier.test".into(),
            destination: "192.0.2.20:5060".parse().unwrap(),
            transport,
            credentials: None,
            media_encryption: MediaEncryption::None,
            managed: false,
            limits: TrunkLimits {
                calls_per_second: 1.0,
                burst: 1,
                max_concurrent: 1,
            },
        }
    }

    fn agent_invite() -> Message {
        RequestBuilder::new(Method::Invite, b"sip:+12125551234@192.0.2.5")
            .header(HeaderName::Via, "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKlk")
            .header(
                HeaderName::From,
                "\"Sales \\\"Bot\\\"\" <sip:+14155550101@10.0.0.9>;tag=lk",
            )
            .header(HeaderName::To, "<sip:+12125551234@192.0.2.5>")
            .header(HeaderName::CallId, "lk-call")
            .header(HeaderName::CSeq, "1 INVITE")
            .header(HeaderName::Contact, "<sip:lk@10.0.0.9:5060>")
            .header(HeaderName::Privacy, "id")
            .header(HeaderName::SessionExpires, "1800")
            .raw_header(b"X-Lk-Room", "room-1")
            .raw_header(b"X-Switchboard-Agent-Version-Id", "ver")
            .header(HeaderName::ContentType, "application/sdp")
            .body(bytes::Bytes::from_static(b"v=0\r\n"))
            .build()
    }

    #[test]
    fn the_carrier_invite_names_the_caller_id_and_hides_the_agent_side() {
        let lk = agent_invite();
        let t = target(Transport::Udp);
        let from = from_value(&lk, &t.caller_id, "203.0.113.1:5060");
        let m = carrier_invite(&CarrierInvite {
            agent_invite: &lk,
            target: &t,
            via: "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKsb;rport",
            from: &from,
            local_tag: b"sbtag",
            call_id: b"sb-call",
            contact: "<sip:switchboard@203.0.113.1:5060>",
            host: "203.0.113.1:5060",
            max_forwards: 69,
        });
        assert_eq!(m.request_uri(), Some(&b"sip:+12125551234@sip.carrier.test"[..]));
        assert_eq!(
            m.header(HeaderName::From),
            Some(&b"\"Sales Bot\" <sip:+14155550101@203.0.113.1:5060>;tag=sbtag"[..])
        );
        assert_eq!(
            m.header(HeaderName::PAssertedIdentity),
            Some(&b"<sip:+14155550101@203.0.113.1:5060>"[..])
        );
        assert_eq!(m.header(HeaderName::Privacy), Some(&b"id"[..]));
        assert_eq!(m.header(HeaderName::SessionExpires), Some(&b"1800"[..]));
        assert_eq!(m.header_by_name("X-Lk-Room"), None, "no X- header reaches a carrier");
        assert_eq!(m.header_by_name("X-Switchboard-Agent-Version-Id"), None);
        assert_eq!(m.call_id(), Some(&b"sb-call"[..]));
        assert_eq!(m.body(), b"v=0\r\n");
        assert!(!m.to_bytes().windows(8).any(|w| w == b"10.0.0.9"), "no LiveKit address");
    }

    #[test]
    fn stream_transports_are_named_in_the_request_uri() {
        assert_eq!(
            request_uri(&target(Transport::Tcp)),
            "sip:+12125551234@sip.carrier.test;transport=tcp"
        );
        assert_eq!(
            request_uri(&target(Transport::Tls)),
            "sip:+12125551234@sip.carrier.test;transport=tls"
        );
    }
}
