//! The checks a request that parsed must still pass before anything acts on it (RFC 3261
//! §8.2, §16.3; RFC 4475 §3.1.2, §3.3): mandatory headers present and well-formed, single
//! headers single, CSeq agreeing with the method, a URI scheme we serve, no extension we do
//! not support. Each fault names the response it gets.

use bytes::{BufMut, Bytes, BytesMut};

use super::header::HeaderName;
use super::lex::trim;
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
    for (name, missing) in [
        (HeaderName::Via, "Missing Via"),
        (HeaderName::From, "Missing From"),
        (HeaderName::To, "Missing To"),
        (HeaderName::CallId, "Missing Call-ID"),
        (HeaderName::CSeq, "Missing CSeq"),
    ] {
        if request.count(name) == 0 {
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
        if request.count(name) > 1 {
            return Err(Rejection::new(400, "Duplicate Single-Valued Header"));
        }
    }
    let cseq = request.cseq().map_err(|_| Rejection::new(400, "Bad CSeq"))?;
    if Some(&cseq.method) != request.method() {
        return Err(Rejection::new(400, "CSeq Method Mismatch"));
    }
    check_vias(request)?;
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

/// Every Via value must parse, and a Via line may not hold empty values (`a, , b`).
fn check_vias(request: &Message) -> Result<(), Rejection> {
    let bad = || Rejection::new(400, "Bad Via");
    for line in request.headers.iter().filter(|h| h.name == HeaderName::Via) {
        let mut rest = Some(request.text(&line.value));
        while let Some(text) = rest {
            let (value, next) = super::lex::split_top_level(text, b',');
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
