//! The messages that cross from one leg to the other: in-dialog requests rebuilt in the
//! target leg's dialog (RFC 3261 §12.2.1.1), responses rebuilt on the requester's
//! transaction, ACK and CANCEL for our INVITE. Topology is hidden by construction: every
//! message is built new, so no Via, Contact, Record-Route or Call-ID crosses over; only the
//! headers listed here, every `X-` header, and the body do.

use bytes::{BufMut, Bytes, BytesMut};

use super::call::Leg;
use crate::sip::{response_for, HeaderName, Message, Method, RequestBuilder};

/// Headers relayed with in-dialog requests and with responses.
const CARRIED_IN_DIALOG: &[HeaderName] = &[
    HeaderName::SessionExpires,
    HeaderName::MinSe,
    HeaderName::Supported,
    HeaderName::Require,
    HeaderName::RSeq,
    HeaderName::Allow,
    HeaderName::Event,
    HeaderName::ReferTo,
    HeaderName::ReferredBy,
    HeaderName::Reason,
    HeaderName::Privacy,
    HeaderName::PAssertedIdentity,
    HeaderName::Accept,
    HeaderName::RetryAfter,
    HeaderName::Unsupported,
];

/// Headers relayed by name that we never read: RFC 6665's Subscription-State (every NOTIFY
/// must carry it) and RFC 4488's Refer-Sub.
const CARRIED_BY_NAME: &[&[u8]] = &[b"subscription-state", b"refer-sub"];

/// A request in `leg`'s dialog (RFC 3261 §12.2.1.1), with `cseq` as given.
pub fn in_dialog(leg: &Leg, method: Method, cseq: u32, via: &str, contact: &str) -> RequestBuilder {
    let mut b = RequestBuilder::new(method.clone(), &leg.remote_target)
        .header(HeaderName::Via, via)
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, with_tag(&leg.local_uri, &leg.local_tag))
        .header(
            HeaderName::To,
            with_tag(&leg.remote_uri, leg.remote_tag.as_deref().unwrap_or_default()),
        )
        .header(HeaderName::CallId, &leg.call_id)
        .header(HeaderName::CSeq, format!("{cseq} {method}"));
    for route in &leg.route_set {
        b = b.header(HeaderName::Route, route);
    }
    if matches!(
        method,
        Method::Invite | Method::Update | Method::Refer | Method::Subscribe | Method::Notify
    ) {
        b = b.header(HeaderName::Contact, contact);
    }
    b
}

/// A relayed in-dialog request: the new request on the other leg, with the carried headers
/// and the body of the original.
pub fn relay_request(original: &Message, mut b: RequestBuilder, rack_cseq: Option<u32>) -> Message {
    b = carry(original, b, CARRIED_IN_DIALOG);
    if let (Some(rack), Some(cseq)) = (original.header(HeaderName::RAck), rack_cseq) {
        // RFC 3262 §7.2: RAck = RSeq CSeq-number method; the CSeq is the other leg's INVITE.
        let mut parts = rack.split(|b| b.is_ascii_whitespace()).filter(|p| !p.is_empty());
        if let (Some(rseq), Some(_), Some(method)) = (parts.next(), parts.next(), parts.next()) {
            let mut value = BytesMut::new();
            value.put_slice(rseq);
            value.put_slice(format!(" {cseq} ").as_bytes());
            value.put_slice(method);
            b = b.header(HeaderName::RAck, value);
        }
    }
    if let Some(ct) = original.content_type() {
        b = b.header(HeaderName::ContentType, ct);
    }
    b.body(original.body_bytes()).build()
}

/// A response to `request` (received on one leg) that relays `response` (received on the
/// other): status, carried headers and body; our Contact on target-refresh answers.
pub fn relay_response(request: &Message, response: &Message, to_tag: &[u8], contact: &str) -> Message {
    let status = response.status().unwrap_or(500);
    let reason = String::from_utf8_lossy(response.reason().unwrap_or_default()).into_owned();
    let mut b = response_for(request, status, &reason).to_tag(Bytes::copy_from_slice(to_tag));
    if status > 100 && status < 300 {
        b = b.header(HeaderName::Contact, contact);
    }
    for (name, value) in response.iter_headers() {
        if is_carried(name, CARRIED_IN_DIALOG) {
            b = b.raw_header(name, value);
        }
    }
    if let Some(ct) = response.content_type() {
        b = b.header(HeaderName::ContentType, ct);
    }
    b.body(response.body_bytes()).build()
}

/// The ACK for a non-2xx final to our INVITE (RFC 3261 §17.1.1.3): same branch, request-URI
/// and route as the INVITE, the response's To.
pub fn ack_for_non_2xx(invite: &Message, response: &Message) -> Bytes {
    let mut b = RequestBuilder::new(Method::Ack, invite.request_uri().unwrap_or_default())
        .header(HeaderName::Via, invite.header(HeaderName::Via).unwrap_or_default())
        .header(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::CallId] {
        b = b.header(name, invite.header(name).unwrap_or_default());
    }
    b = b.header(HeaderName::To, response.header(HeaderName::To).unwrap_or_default());
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    b.header(HeaderName::CSeq, format!("{seq} ACK")).build().to_bytes()
}

/// CANCEL for our INVITE (RFC 3261 §9.1): same branch, request-URI, From, To, Call-ID.
pub fn cancel_for(invite: &Message) -> Message {
    let mut b = RequestBuilder::new(Method::Cancel, invite.request_uri().unwrap_or_default())
        .header(HeaderName::Via, invite.header(HeaderName::Via).unwrap_or_default())
        .header(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        b = b.header(name, invite.header(name).unwrap_or_default());
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    b.header(HeaderName::CSeq, format!("{seq} CANCEL")).build()
}

/// One pass over `from`'s headers: those named in `carried`, and every `X-` header, as
/// written and in order.
pub(super) fn carry(from: &Message, mut b: RequestBuilder, carried: &[HeaderName]) -> RequestBuilder {
    for (name, value) in from.iter_headers() {
        if is_carried(name, carried) {
            b = b.raw_header(name, value);
        }
    }
    b
}

fn is_carried(name: &[u8], carried: &[HeaderName]) -> bool {
    if is_x_header(name) {
        return true;
    }
    match HeaderName::parse(name) {
        HeaderName::Other => CARRIED_BY_NAME.iter().any(|n| n.eq_ignore_ascii_case(name)),
        known => carried.contains(&known),
    }
}

/// `value;tag=tag`.
pub fn with_tag(value: &[u8], tag: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(value.len() + tag.len() + 5);
    out.put_slice(value);
    if !tag.is_empty() {
        out.put_slice(b";tag=");
        out.put_slice(tag);
    }
    out.freeze()
}

/// A From/To value without its `tag` parameter (the rest kept as written).
pub fn without_tag(value: &[u8]) -> Bytes {
    let (mut keep, mut rest) = crate::sip::lex::split_top_level(value, b';');
    let mut out = BytesMut::from(crate::sip::lex::trim(keep));
    while let Some(r) = rest {
        (keep, rest) = crate::sip::lex::split_top_level(r, b';');
        let param = crate::sip::lex::trim(keep);
        let name = param.split(|b| *b == b'=').next().unwrap_or_default();
        if !crate::sip::lex::trim(name).eq_ignore_ascii_case(b"tag") && !param.is_empty() {
            out.put_u8(b';');
            out.put_slice(param);
        }
    }
    out.freeze()
}

/// The URI inside a Contact/name-addr value (without angle brackets or parameters).
pub fn contact_uri(value: &[u8]) -> Option<Bytes> {
    crate::sip::NameAddr::parse(value, "Contact")
        .ok()
        .map(|na| Bytes::copy_from_slice(na.uri.text))
}

fn is_x_header(name: &[u8]) -> bool {
    name.len() > 2
        && name[..2].eq_ignore_ascii_case(b"x-")
        && !name[..name.len().min(13)].eq_ignore_ascii_case(b"x-switchboard")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_come_off_and_go_on_without_touching_other_parameters() {
        assert_eq!(
            &without_tag(b"\"A\" <sip:a@b;lr>;tag=x1;foo=bar")[..],
            b"\"A\" <sip:a@b;lr>;foo=bar"
        );
        assert_eq!(&with_tag(b"<sip:a@b>", b"t9")[..], b"<sip:a@b>;tag=t9");
        assert_eq!(
            contact_uri(b"\"Agent\" <sip:agent@10.0.0.5:5090;transport=udp>;expires=60").as_deref(),
            Some(&b"sip:agent@10.0.0.5:5090;transport=udp"[..])
        );
    }
}
