//! The agent leg's INVITE: a new request, never an edited copy of the carrier's, so no Via,
//! Contact, Record-Route or Call-ID of the carrier's side crosses over. It carries the
//! caller's identity and diversion headers and every `X-` header as written and in order,
//! the SDP unchanged, and our `X-Switchboard-*` facts about the route. Also here: the dialed
//! and calling numbers the route is looked up by.
//!
//! It refuses to choose the agent (that is `routing`) or to touch the SDP.

use bytes::Bytes;

use super::relay::{concat, is_carried, tagged, HeaderSet};
use crate::routing::AgentTarget;
use crate::sip::{e164, Decimal, HeaderName, Message, Method, RequestBuilder};
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
    // Sized once: what we write, what we carry, the body, and the fixed words.
    let ours = t.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>()
        + [id, host, id, host, a.from, a.local_tag, a.call_id]
            .iter()
            .map(|p| p.len())
            .sum::<usize>()
        + [
            a.via,
            a.contact,
            a.called,
            a.calling,
            &t.agent_version_id,
            &t.org_id,
            &t.trunk_id,
        ]
        .iter()
        .map(|p| p.len())
        .sum::<usize>();
    let keep = |name, written: &[u8]| is_carried(name, written, const { HeaderSet::of(CARRIED_ON_INVITE) });
    let invite = a.carrier_invite;
    let carried = invite.lines_len(keep) + invite.content_type().map_or(0, <[u8]>::len) + invite.body().len();
    let capacity = ours + carried + 512;
    let mut b = RequestBuilder::from_parts(Method::Invite, &[b"sip:", id, b"@", host, transport], capacity)
        .header(HeaderName::Via, a.via)
        .header(HeaderName::MaxForwards, Decimal::from(a.max_forwards))
        .header_parts(HeaderName::From, &tagged(a.from, a.local_tag))
        .header_parts(HeaderName::To, &[b"<sip:", id, b"@", host, transport, b">"])
        .header(HeaderName::CallId, a.call_id)
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, a.contact);
    b = b.copy_headers(invite, keep);
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

/// Our From on the agent leg (without tag): the calling number at our host, with the
/// caller's display name when it sent one (quotes, backslashes and control characters
/// removed, so that it cannot break out of the quoted string). One allocation.
pub fn local_from(display: Option<&[u8]>, calling: Option<&str>, host: &str) -> Bytes {
    let user = calling.unwrap_or("anonymous").as_bytes();
    let Some(display) = display else {
        return concat(&[b"<sip:", user, b"@", host.as_bytes(), b">"]);
    };
    let mut out = Vec::with_capacity(display.len() + user.len() + host.len() + 10);
    out.push(b'"');
    out.extend(
        display
            .iter()
            .filter(|b| **b != b'"' && **b != b'\\' && !b.is_ascii_control()),
    );
    out.extend_from_slice(b"\" <sip:");
    for part in [user, b"@", host.as_bytes(), b">"] {
        out.extend_from_slice(part);
    }
    Bytes::from(out)
}

/// The agent's To value on its leg: `<sip:<agent_id>@<livekit host>>`.
pub fn agent_uri_value(target: &AgentTarget) -> Bytes {
    let (id, host) = (target.agent_id.as_bytes(), target.livekit_host.as_bytes());
    concat(&[b"<sip:", id, b"@", host, b">"])
}

/// The dialed number: the request-URI's user part, else the To URI's, in E.164 (a national
/// number is taken to be in `country`, `[routing] default_country`).
pub fn dialed_number(invite: &Message, country: &str) -> Option<String> {
    let in_uri = invite.request_uri().and_then(uri_user);
    in_uri
        .and_then(|user| e164::normalise_bytes(user, country))
        .or_else(|| e164::normalise_bytes(uri_user(addr_uri(invite.header(HeaderName::To)?))?, country))
}

/// The caller's number: P-Asserted-Identity's user, else From's, in E.164 when it is a
/// phone number (national in `country`), else as written.
pub fn calling_number(invite: &Message, country: &str) -> Option<String> {
    let user_of = |name| invite.header(name).map(addr_uri).and_then(uri_user);
    let user = user_of(HeaderName::PAssertedIdentity).or_else(|| user_of(HeaderName::From))?;
    e164::normalise_bytes(user, country).or_else(|| Some(String::from_utf8_lossy(user).into_owned()))
}

// The numbers are read from a request the front door validated (`validate_request` parsed
// its request-URI, From and To): here the user part is only cut out, not parsed again.

/// The URI of a name-addr or addr-spec value (From, To, P-Asserted-Identity).
fn addr_uri(value: &[u8]) -> &[u8] {
    let value = value.trim_ascii();
    // A quoted display name may hold `<`: look past it.
    let after_display = match value.first() {
        Some(b'"') => crate::sip::lex::quoted_end(value).map_or(value.len(), |end| end + 1),
        _ => 0,
    };
    let rest = &value[after_display..];
    match rest.iter().position(|b| *b == b'<') {
        Some(lt) => {
            let inner = &rest[lt + 1..];
            &inner[..inner.iter().position(|b| *b == b'>').unwrap_or(inner.len())]
        }
        // addr-spec: parameters after `;` belong to the header (RFC 3261 §20.10).
        None => &rest[..rest.iter().position(|b| *b == b';').unwrap_or(rest.len())],
    }
}

/// A URI's user part: before the `@` of a SIP URI (and any `:password`), the number of a
/// `tel:` URI; `None` for other schemes and for SIP URIs naming no user.
fn uri_user(uri: &[u8]) -> Option<&[u8]> {
    let uri = uri.trim_ascii();
    let colon = uri.iter().position(|b| *b == b':')?;
    let (scheme, rest) = (&uri[..colon], &uri[colon + 1..]);
    if scheme.eq_ignore_ascii_case(b"tel") {
        return Some(&rest[..rest.iter().position(|b| *b == b';').unwrap_or(rest.len())]);
    }
    if !scheme.eq_ignore_ascii_case(b"sip") && !scheme.eq_ignore_ascii_case(b"sips") {
        return None;
    }
    let userinfo = &rest[..rest.iter().position(|b| *b == b'@')?];
    Some(&userinfo[..userinfo.iter().position(|b| *b == b':').unwrap_or(userinfo.len())])
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
    fn user_parts_are_cut_from_each_form_of_address() {
        assert_eq!(addr_uri(br#""A <b>" <sip:+1555@x>;tag=1"#), b"sip:+1555@x");
        assert_eq!(addr_uri(b"sip:anonymous@x;tag=1"), b"sip:anonymous@x");
        assert_eq!(uri_user(b"sip:+1555:secret@x;user=phone"), Some(&b"+1555"[..]));
        assert_eq!(uri_user(b"TEL:+15551234567;npdi"), Some(&b"+15551234567"[..]));
        assert_eq!(uri_user(b"sip:x.example"), None);
        assert_eq!(uri_user(b"mailto:a@b"), None);
    }

    #[test]
    fn our_from_keeps_the_display_name_and_nothing_that_breaks_its_quotes() {
        assert_eq!(
            &local_from(Some(br#"Sales \"Bot\""#), Some("+14155550100"), "sb:5060")[..],
            br#""Sales Bot" <sip:+14155550100@sb:5060>"#
        );
        assert_eq!(&local_from(None, None, "sb")[..], b"<sip:anonymous@sb>");
    }

    #[test]
    fn the_calling_number_prefers_p_asserted_identity_over_from() {
        let m = invite("sip:+15551234567@x", "<sip:x@x>", Some("<sip:+14155550199@carrier>"));
        assert_eq!(calling_number(&m, "1").as_deref(), Some("+14155550199"));
        let m = invite("sip:+15551234567@x", "<sip:x@x>", None);
        assert_eq!(calling_number(&m, "1").as_deref(), Some("+14155550100"));
    }
}
