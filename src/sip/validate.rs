//! The checks a request that parsed must still pass before anything acts on it (RFC 3261
//! §8.2, §16.3; RFC 4475 §3.1.2, §3.3): mandatory headers present and well-formed, single
//! headers single, CSeq agreeing with the method, a URI scheme we serve, no extension we do
//! not support. Each fault names the response it gets.

use bytes::{BufMut, Bytes, BytesMut};

use super::header::HeaderName;
use super::lex::{split_top_level, trim};
use super::message::Message;
use super::uri::{Scheme, Uri};

/// Option tags we support, for `Require` (RFC 3261 §8.2.2.3).
pub const SUPPORTED_OPTIONS: &[&[u8]] = &[b"timer", b"100rel", b"replaces", b"norefersub"];

/// Why a request is refused, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub reason: &'static str,
    /// For 420: the option tags to list in `Unsupported`.
    pub unsupported: Option<Bytes>,
}

impl Rejection {
    fn new(status: u16, reason: &'static str) -> Rejection {
        Rejection {
            status,
            reason,
            unsupported: None,
        }
    }
}

/// Check a parsed request; `Ok` means it may be acted on.
pub fn validate_request(request: &Message) -> Result<(), Rejection> {
    // One pass counts every header by name (twelve `count` scans cost ~1k instructions).
    let mut counts = [0u8; HeaderName::Other as usize + 1];
    for header in &request.headers {
        let n = &mut counts[header.name as usize];
        *n = n.saturating_add(1);
    }
    let count = |name: HeaderName| counts[name as usize];
    for (name, missing) in [
        (HeaderName::Via, "Missing Via"),
        (HeaderName::From, "Missing From"),
        (HeaderName::To, "Missing To"),
        (HeaderName::CallId, "Missing Call-ID"),
        (HeaderName::CSeq, "Missing CSeq"),
    ] {
        if count(name) == 0 {
            return Err(Rejection::new(400, missing));
        }
    }
    for name in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::MaxForwards,
        HeaderName::ContentLength,
        HeaderName::ContentType,
    ] {
        if count(name) > 1 {
            return Err(Rejection::new(400, "Duplicate Single-Valued Header"));
        }
    }
    let cseq = request.cseq().map_err(|_| Rejection::new(400, "Bad CSeq"))?;
    if Some(&cseq.method) != request.method() {
        return Err(Rejection::new(400, "CSeq Method Mismatch"));
    }
    check_vias(request)?;
    check_header_values(request)?;
    request.from().map_err(|_| Rejection::new(400, "Bad From"))?;
    request.to().map_err(|_| Rejection::new(400, "Bad To"))?;
    if request
        .call_id()
        .is_none_or(|id| id.is_empty() || id.iter().any(|b| b.is_ascii_whitespace()))
    {
        return Err(Rejection::new(400, "Bad Call-ID"));
    }
    request
        .max_forwards()
        .map_err(|_| Rejection::new(400, "Bad Max-Forwards"))?;
    check_request_uri(request)?;
    check_require(request)
}

/// No control characters in header values (RFC 3261 §25.1: TEXT-UTF8 and LWS only). A
/// NUL or ESC can end or hijack a string in the next parser, and a bare CR is a line end to
/// parsers that split on CR: relayed, it could smuggle a header (an `X-Switchboard-*` one)
/// past us. Folding (CRLF or LF then SP/HTAB) stays legal.
fn check_header_values(request: &Message) -> Result<(), Rejection> {
    for header in &request.headers {
        if let Some(why) = control_character(request.text(&header.value)) {
            return Err(Rejection::new(400, why));
        }
    }
    Ok(())
}

/// The fault, if `value` holds a control character outside a fold. Inside a quoted string
/// a quoted-pair may escape one (RFC 3261 §25.1 allows `\` before any octet but CR and LF;
/// RFC 4475 §3.1.1.3 uses it), so an escaped control there is text, not a control.
fn control_character(value: &[u8]) -> Option<&'static str> {
    // Almost every value holds no control character at all: say so in a branch-free pass
    // the compiler vectorises (a byte-by-byte walk cost ~25k instructions a call), and walk
    // only the rare value that holds one (a fold, a tab, an attack).
    if !value.iter().fold(false, |any, &b| any | (b < 0x20) | (b == 0x7f)) {
        return None;
    }
    let is_fold = |at: usize| matches!(value.get(at), Some(b' ' | b'\t'));
    let (mut quoted, mut escaped) = (false, false);
    for (i, b) in value.iter().enumerate() {
        let was_escaped = std::mem::take(&mut escaped);
        match *b {
            b'\t' => {}
            b'\r' if value.get(i + 1) == Some(&b'\n') && is_fold(i + 2) => {}
            b'\n' if is_fold(i + 1) => {}
            b'\r' => return Some("Bare CR in Header Value"),
            b'\n' => return Some("Bare LF in Header Value"),
            0..=0x1f | 0x7f if was_escaped => {}
            0 => return Some("NUL in Header Value"),
            0x1b => return Some("ESC in Header Value"),
            0..=0x1f | 0x7f => return Some("Control Character in Header Value"),
            b'\\' if quoted && !was_escaped => escaped = true,
            b'"' if !was_escaped => quoted = !quoted,
            _ => {}
        }
    }
    None
}

/// Every Via value must parse, and a Via line may not hold empty values (`a, , b`).
fn check_vias(request: &Message) -> Result<(), Rejection> {
    let bad = || Rejection::new(400, "Bad Via");
    let vias = request.headers.iter().filter(|h| h.name == HeaderName::Via);
    for (n, line) in vias.enumerate() {
        let mut rest = Some(request.text(&line.value));
        // The first value of the first line parsed with the message (see `TopVia`).
        if n == 0 && request.top_via.of(&line.value).is_some() {
            rest = rest.and_then(|text| split_top_level(text, b',').1);
        }
        while let Some(text) = rest {
            let (value, next) = split_top_level(text, b',');
            super::via::Via::parse(trim(value)).map_err(|_| bad())?;
            rest = next;
        }
    }
    Ok(())
}

fn check_request_uri(request: &Message) -> Result<(), Rejection> {
    let text = request.request_uri().unwrap_or_default();
    // RFC 4475 §3.1.2.7, §3.1.2.8: no angle brackets or white space in a Request-URI.
    if text.first() == Some(&b'<') || text.iter().any(|b| *b < 0x21 || *b == 0x7f) {
        return Err(Rejection::new(400, "Bad Request-URI"));
    }
    match Uri::parse(text) {
        Ok(uri) if uri.scheme == Scheme::Other => Err(Rejection::new(416, "Unsupported URI Scheme")),
        Ok(_) => Ok(()),
        Err(_) => Err(Rejection::new(400, "Bad Request-URI")),
    }
}

fn check_require(request: &Message) -> Result<(), Rejection> {
    // §8.2.2.3: an ACK or CANCEL's Require is not checked.
    if matches!(request.method(), Some(super::Method::Ack | super::Method::Cancel)) {
        return Ok(());
    }
    let mut unsupported = BytesMut::new();
    for tag in request.headers(HeaderName::Require).map(trim) {
        if !SUPPORTED_OPTIONS.iter().any(|s| s.eq_ignore_ascii_case(tag)) {
            if !unsupported.is_empty() {
                unsupported.put_slice(b", ");
            }
            unsupported.put_slice(tag);
        }
    }
    if unsupported.is_empty() {
        return Ok(());
    }
    Err(Rejection {
        status: 420,
        reason: "Bad Extension",
        unsupported: Some(unsupported.freeze()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite_with(header: &[u8]) -> Message {
        let mut raw = b"INVITE sip:+15551234567@192.0.2.5 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
From: <sip:+14155550100@192.0.2.1>;tag=1\r\n\
To: <sip:+15551234567@192.0.2.5>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Max-Forwards: 70\r\n"
            .to_vec();
        raw.extend_from_slice(header);
        raw.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        Message::parse(Bytes::from(raw)).expect("parses")
    }

    #[test]
    fn header_values_with_nul_esc_a_bare_cr_or_other_controls_get_400() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("nul", b"X-Carrier-Ref: ab\0cd", "NUL in Header Value"),
            ("esc", b"Subject: hi \x1b[2J", "ESC in Header Value"),
            (
                "bare CR smuggling a header",
                b"X-Carrier-Ref: abc\rX-Switchboard-Route: workflow",
                "Bare CR in Header Value",
            ),
            ("bare CR at the end", b"Subject: hi\r", "Bare CR in Header Value"),
            ("NUL escaped outside quotes", b"Subject: a\\\0b", "NUL in Header Value"),
            (
                "bare CR escaped in quotes",
                b"Subject: \"a\\\rb\"",
                "Bare CR in Header Value",
            ),
            ("bell", b"Subject: \x07", "Control Character in Header Value"),
            ("DEL", b"Subject: a\x7fb", "Control Character in Header Value"),
        ];
        for (name, header, why) in cases {
            let request = invite_with(header);
            let rejection = validate_request(&request).expect_err(name);
            assert_eq!((rejection.status, rejection.reason), (400, *why), "{name}");
        }
    }

    #[test]
    fn tabs_folds_and_utf8_in_header_values_pass() {
        for header in [
            &b"Subject: a\tb"[..],
            b"Subject: first\r\n second",
            b"Subject: first\r\n\tsecond",
            b"Subject: first\n second",
            "Subject: caf\u{e9} \u{2603}".as_bytes(),
            b"Subject: \"BEL:\\\x07 NUL:\\\0 DEL:\\\x7f\"",
        ] {
            let request = invite_with(header);
            assert_eq!(
                validate_request(&request),
                Ok(()),
                "{}",
                String::from_utf8_lossy(header)
            );
        }
    }
}
