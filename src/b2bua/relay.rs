//! The messages that cross from one leg to the other: in-dialog requests rebuilt in the
//! target leg's dialog (RFC 3261 §12.2.1.1), responses rebuilt on the requester's
//! transaction, ACK and CANCEL for our INVITE. Topology is hidden by construction: every
//! message is built new, so no Via, Contact, Record-Route or Call-ID crosses over; only the
//! headers listed here, every `X-` header, and the body do.

use bytes::{BufMut, Bytes, BytesMut};

use super::call::Leg;
use crate::sip::{response_sized, Decimal, HeaderName, Message, Method, RequestBuilder};

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
    let remote_tag = leg.remote_tag.as_deref().unwrap_or_default();
    // Sized once (an ACK is kept for the call's length): the dialog's parts, our Via and
    // Contact, the fixed words, and room for a few carried headers.
    let dialog = [
        &leg.remote_target,
        &leg.local_uri,
        &leg.local_tag,
        &leg.remote_uri,
        &leg.call_id,
    ];
    let routes: usize = leg.route_set.iter().map(|r| r.len() + 9).sum();
    let parts: usize = dialog.iter().map(|p| p.len()).sum::<usize>() + remote_tag.len() + routes;
    let capacity = parts + via.len() + contact.len() + 320;
    let mut b = RequestBuilder::from_parts(method.clone(), &[&leg.remote_target], capacity)
        .header(HeaderName::Via, via)
        .header(HeaderName::MaxForwards, "70")
        .header_parts(HeaderName::From, &tagged(&leg.local_uri, &leg.local_tag))
        .header_parts(HeaderName::To, &tagged(&leg.remote_uri, remote_tag))
        .header(HeaderName::CallId, &leg.call_id)
        .header_parts(
            HeaderName::CSeq,
            &[Decimal::from(cseq).as_ref(), b" ", method.as_bytes()],
        );
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
    b = carry(original, b, const { HeaderSet::of(CARRIED_IN_DIALOG) });
    if let (Some(rack), Some(cseq)) = (original.header(HeaderName::RAck), rack_cseq) {
        // RFC 3262 §7.2: RAck = RSeq CSeq-number method; the CSeq is the other leg's INVITE.
        let mut parts = rack.split(|b| b.is_ascii_whitespace()).filter(|p| !p.is_empty());
        if let (Some(rseq), Some(_), Some(method)) = (parts.next(), parts.next(), parts.next()) {
            let cseq = Decimal::from(cseq);
            b = b.header_parts(HeaderName::RAck, &[rseq, b" ", cseq.as_ref(), b" ", method]);
        }
    }
    if let Some(ct) = original.content_type() {
        b = b.header(HeaderName::ContentType, ct);
    }
    b.body(original.body_bytes()).build()
}

/// A response to `request` (received on one leg) that relays `response` (received on the
/// other): status, carried headers and body; our Contact on target-refresh answers.
pub fn relay_response(request: &Message, response: &Message, to_tag: &Bytes, contact: &str) -> Message {
    let status = response.status().unwrap_or(500);
    let reason = response.reason().unwrap_or_default();
    let keep = |name, written: &[u8]| is_carried(name, written, const { HeaderSet::of(CARRIED_IN_DIALOG) });
    let extra = to_tag.len() + contact.len() + response.lines_len(keep) + response.body().len() + 64;
    let mut b = response_sized(request, status, reason, extra).to_tag(to_tag.clone());
    if status > 100 && status < 300 {
        b = b.header(HeaderName::Contact, contact);
    }
    b = b.copy_headers(response, keep);
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
    let seq = Decimal::from(invite.cseq().map(|c| c.seq).unwrap_or(1));
    b.header_parts(HeaderName::CSeq, &[seq.as_ref(), b" ACK"])
        .build()
        .to_bytes()
}

/// CANCEL for our INVITE (RFC 3261 §9.1): same branch, request-URI, From, To, Call-ID.
pub fn cancel_for(invite: &Message) -> Message {
    let mut b = RequestBuilder::new(Method::Cancel, invite.request_uri().unwrap_or_default())
        .header(HeaderName::Via, invite.header(HeaderName::Via).unwrap_or_default())
        .header(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        b = b.header(name, invite.header(name).unwrap_or_default());
    }
    let seq = Decimal::from(invite.cseq().map(|c| c.seq).unwrap_or(1));
    b.header_parts(HeaderName::CSeq, &[seq.as_ref(), b" CANCEL"]).build()
}

/// One pass over `from`'s headers: those named in `carried`, and every `X-` header, as
/// written and in order.
pub(super) fn carry(from: &Message, b: RequestBuilder, carried: HeaderSet) -> RequestBuilder {
    b.copy_headers(from, |name, written| is_carried(name, written, carried))
}

/// Whether a header goes across: a known one in `carried` (a test of one bit: this runs
/// for every header relayed), or an `X-` header, or one we carry by name.
pub(super) fn is_carried(name: HeaderName, written: &[u8], carried: HeaderSet) -> bool {
    match name {
        HeaderName::Other => is_x_header(written) || CARRIED_BY_NAME.iter().any(|n| n.eq_ignore_ascii_case(written)),
        known => carried.has(known),
    }
}

// Every known name has a bit of a u64.
const _: () = assert!((HeaderName::Other as u64) < 64);

/// A set of known header names, one bit each.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeaderSet(u64);

impl HeaderSet {
    pub(super) const fn of(names: &[HeaderName]) -> HeaderSet {
        let mut bits = 0u64;
        let mut i = 0;
        while i < names.len() {
            bits |= 1 << names[i] as u64;
            i += 1;
        }
        HeaderSet(bits)
    }

    pub(super) fn has(self, name: HeaderName) -> bool {
        self.0 & (1 << name as u64) != 0
    }
}

/// `parts` written one after the other, in one allocation of exactly their length.
pub(super) fn concat(parts: &[&[u8]]) -> Bytes {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.extend_from_slice(part);
    }
    Bytes::from(out)
}

/// The parts of `value;tag=tag` (just `value` when the tag is empty), to write without
/// putting them together first.
pub fn tagged<'a>(value: &'a [u8], tag: &'a [u8]) -> [&'a [u8]; 3] {
    if tag.is_empty() {
        [value, b"", b""]
    } else {
        [value, b";tag=", tag]
    }
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
    contact_uri_of(value).map(Bytes::copy_from_slice)
}

/// [`contact_uri`], borrowed.
pub fn contact_uri_of(value: &[u8]) -> Option<&[u8]> {
    crate::sip::NameAddr::parse(value, "Contact").ok().map(|na| na.uri.text)
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
        assert_eq!(tagged(b"<sip:a@b>", b"t9").concat(), b"<sip:a@b>;tag=t9");
        assert_eq!(tagged(b"<sip:a@b>", b"").concat(), b"<sip:a@b>");
        assert_eq!(
            contact_uri(b"\"Agent\" <sip:agent@10.0.0.5:5090;transport=udp>;expires=60").as_deref(),
            Some(&b"sip:agent@10.0.0.5:5090;transport=udp"[..])
        );
    }
}
