//! Building new messages: requests (the agent leg the B2BUA originates) and responses to a
//! received request (RFC 3261 §8.2.6). Builders write the wire form once and record where
//! each part lies, so what they build is a `Message` like a parsed one, with no parse.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ParseError;
use super::header::HeaderName;
use super::message::{Header, Message, StartLine, Text};
use super::method::Method;

/// Writes a message and remembers the spans.
#[derive(Debug)]
struct Writer {
    out: BytesMut,
    headers: Vec<Header>,
}

impl Writer {
    fn with_capacity(capacity: usize) -> Writer {
        Writer {
            out: BytesMut::with_capacity(capacity),
            headers: Vec::with_capacity(16),
        }
    }

    fn span(&mut self, bytes: &[u8]) -> Text {
        let start = self.out.len() as u32;
        self.out.put_slice(bytes);
        Text::Span(start, self.out.len() as u32)
    }

    fn header(&mut self, name: HeaderName, written: &[u8], value: &[u8]) {
        self.header_parts(name, written, &[value]);
    }

    /// A header whose value is `parts` written one after the other.
    fn header_parts(&mut self, name: HeaderName, written: &[u8], parts: &[&[u8]]) {
        let line_start = self.out.len() as u32;
        let name_text = self.span(written);
        self.out.put_slice(b": ");
        let value_start = self.out.len() as u32;
        for part in parts {
            self.out.put_slice(part);
        }
        let value = Text::Span(value_start, self.out.len() as u32);
        let line = Some((line_start, self.out.len() as u32));
        self.out.put_slice(b"\r\n");
        self.headers.push(Header {
            name,
            name_text,
            value,
            line,
        });
    }

    /// Copy `from`'s header lines that `keep` picks (by name, and name as written), in
    /// order, with their names as written.
    fn copy_headers(&mut self, from: &Message, keep: impl Fn(HeaderName, &[u8]) -> bool) {
        for header in &from.headers {
            let written = from.name_of(header);
            if keep(header.name, written) {
                self.header(header.name, written, from.text(&header.value));
            }
        }
    }

    fn finish(mut self, start: StartLine, start_end: u32, body: &[u8]) -> Message {
        let length = Decimal::from(body.len() as u64);
        self.header(HeaderName::ContentLength, b"Content-Length", length.as_ref());
        self.out.put_slice(b"\r\n");
        let body = self.span(body);
        let end = self.out.len() as u32;
        Message {
            raw: self.out.freeze(),
            start,
            start_span: Some((0, start_end)),
            headers: self.headers,
            body,
            end,
            edited: false,
            owned: Vec::new(),
            top_via: Default::default(),
        }
    }
}

/// A new request.
#[derive(Debug)]
pub struct RequestBuilder {
    writer: Writer,
    start: StartLine,
    start_end: u32,
    body: Bytes,
}

impl RequestBuilder {
    pub fn new(method: Method, uri: &[u8]) -> RequestBuilder {
        RequestBuilder::from_parts(method, &[uri], 1024)
    }

    /// A request whose URI is `uri` written part after part, in a buffer of `capacity`
    /// bytes (its expected size: a buffer that has to grow is copied).
    pub fn from_parts(method: Method, uri: &[&[u8]], capacity: usize) -> RequestBuilder {
        let mut writer = Writer::with_capacity(capacity);
        writer.out.put_slice(method.as_bytes());
        writer.out.put_u8(b' ');
        let uri_start = writer.out.len() as u32;
        for part in uri {
            writer.out.put_slice(part);
        }
        let uri = Text::Span(uri_start, writer.out.len() as u32);
        writer.out.put_slice(b" SIP/2.0");
        let start_end = writer.out.len() as u32;
        writer.out.put_slice(b"\r\n");
        RequestBuilder {
            writer,
            start: StartLine::Request { method, uri },
            start_end,
            body: Bytes::new(),
        }
    }

    pub fn header(mut self, name: HeaderName, value: impl AsRef<[u8]>) -> RequestBuilder {
        self.writer.header(name, name.as_str().as_bytes(), value.as_ref());
        self
    }

    /// A header whose value is `parts` written one after the other (`<`, a URI, `>`), with
    /// no value put together first.
    pub fn header_parts(mut self, name: HeaderName, parts: &[&[u8]]) -> RequestBuilder {
        self.writer.header_parts(name, name.as_str().as_bytes(), parts);
        self
    }

    /// The header lines of `from` that `keep` picks by name (and name as written), as
    /// written and in order: what a B2BUA carries from one leg to the other.
    pub fn copy_headers(mut self, from: &Message, keep: impl Fn(HeaderName, &[u8]) -> bool) -> RequestBuilder {
        self.writer.copy_headers(from, keep);
        self
    }

    /// A header by its written name (`X-` headers, carried headers).
    pub fn raw_header(mut self, name: &[u8], value: impl AsRef<[u8]>) -> RequestBuilder {
        self.writer.header(HeaderName::parse(name), name, value.as_ref());
        self
    }

    pub fn body(mut self, body: Bytes) -> RequestBuilder {
        self.body = body;
        self
    }

    pub fn build(self) -> Message {
        self.writer.finish(self.start, self.start_end, &self.body)
    }
}

/// A response to a received request; see [`response_for`].
#[derive(Debug)]
pub struct ResponseBuilder {
    writer: Writer,
    start: StartLine,
    start_end: u32,
    /// The request's To value (shared with the request, not copied), written last.
    to: Option<Bytes>,
    to_has_tag: bool,
    to_tag: Option<Bytes>,
    body: Bytes,
}

/// Start a response to `request`: Via (all, in order), From, To, Call-ID and CSeq copied as
/// RFC 3261 §8.2.6.2 says. Each Via line is copied as it came, a list unsplit.
pub fn response_for(request: &Message, status: u16, reason: impl AsRef<[u8]>) -> ResponseBuilder {
    response_sized(request, status, reason, 0)
}

/// [`response_for`] with room for `extra` bytes more than its own lines (the headers and
/// body it will be given). Its buffer is sized once: a buffer that grows doubles, and a
/// response kept for retransmission keeps all of it.
pub fn response_sized(request: &Message, status: u16, reason: impl AsRef<[u8]>, extra: usize) -> ResponseBuilder {
    let reason = reason.as_ref();
    let copied: usize = request
        .headers
        .iter()
        .filter(|h| RESPONSE_COPIES.contains(&h.name))
        .map(|h| request.text(&h.value).len() + 16)
        .sum();
    // Status line, Content-Length, our To tag and a Contact of our own.
    let mut writer = Writer::with_capacity(copied + reason.len() + extra + 160);
    writer.out.put_slice(b"SIP/2.0 ");
    writer.out.put_slice(Decimal::from(status).as_ref());
    writer.out.put_u8(b' ');
    let reason = writer.span(reason);
    let start_end = writer.out.len() as u32;
    writer.out.put_slice(b"\r\n");
    for via in request.headers.iter().filter(|h| h.name == HeaderName::Via) {
        writer.header(HeaderName::Via, b"Via", request.text(&via.value));
    }
    for name in [HeaderName::From, HeaderName::CallId, HeaderName::CSeq] {
        if let Some(header) = request.headers.iter().find(|h| h.name == name) {
            writer.header(name, name.as_str().as_bytes(), request.text(&header.value));
        }
    }
    let to = request.headers.iter().find(|h| h.name == HeaderName::To);
    ResponseBuilder {
        writer,
        start: StartLine::Response { status, reason },
        start_end,
        to: to.map(|h| shared(request, &h.value)),
        to_has_tag: to.is_some() && request.to_tag().is_some(),
        to_tag: None,
        body: Bytes::new(),
    }
}

impl Message {
    /// `part` (a slice of this message, as its accessors return) as shared bytes: no copy
    /// when it lies in the received or built bytes.
    pub fn share(&self, part: &[u8]) -> Bytes {
        let (start, end) = (self.raw.as_ptr() as usize, self.raw.as_ptr() as usize + self.raw.len());
        let at = part.as_ptr() as usize;
        if part.is_empty() || at < start || at + part.len() > end {
            return Bytes::copy_from_slice(part);
        }
        self.raw.slice_ref(part)
    }

    /// The room the header lines `keep` picks take when written, to size a buffer for
    /// [`RequestBuilder::copy_headers`].
    pub fn lines_len(&self, keep: impl Fn(HeaderName, &[u8]) -> bool) -> usize {
        self.headers
            .iter()
            .filter(|h| keep(h.name, self.name_of(h)))
            .map(|h| self.name_of(h).len() + self.text(&h.value).len() + 4)
            .sum()
    }
}

/// The headers a response copies from its request (RFC 3261 §8.2.6.2).
const RESPONSE_COPIES: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

/// The bytes of a part of `message`, shared rather than copied.
fn shared(message: &Message, text: &Text) -> Bytes {
    match text {
        Text::Span(start, end) => message.raw.slice(*start as usize..*end as usize),
        Text::Owned(i) => message.owned[*i as usize].clone(),
    }
}

impl ResponseBuilder {
    /// The To tag this UAS uses (ignored when the request's To already has one, §8.2.6.2).
    pub fn to_tag(mut self, tag: impl Into<Bytes>) -> ResponseBuilder {
        self.to_tag = Some(tag.into());
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl AsRef<[u8]>) -> ResponseBuilder {
        self.writer.header(name, name.as_str().as_bytes(), value.as_ref());
        self
    }

    /// See [`RequestBuilder::copy_headers`].
    pub fn copy_headers(mut self, from: &Message, keep: impl Fn(HeaderName, &[u8]) -> bool) -> ResponseBuilder {
        self.writer.copy_headers(from, keep);
        self
    }

    pub fn raw_header(mut self, name: &[u8], value: impl AsRef<[u8]>) -> ResponseBuilder {
        self.writer.header(HeaderName::parse(name), name, value.as_ref());
        self
    }

    pub fn body(mut self, body: Bytes) -> ResponseBuilder {
        self.body = body;
        self
    }

    pub fn build(mut self) -> Message {
        let status = match self.start {
            StartLine::Response { status, .. } => status,
            StartLine::Request { .. } => 0,
        };
        if let Some(to) = self.to.filter(|to| !to.is_empty()) {
            match (self.to_has_tag, &self.to_tag, status > 100) {
                (false, Some(tag), true) => self.writer.header_parts(HeaderName::To, b"To", &[&to, b";tag=", tag]),
                _ => self.writer.header(HeaderName::To, b"To", &to),
            }
        }
        self.writer.finish(self.start, self.start_end, &self.body)
    }
}

/// A number's decimal digits, written without allocating (a status, Content-Length, CSeq,
/// Max-Forwards).
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    digits: [u8; 20],
    start: u8,
}

impl From<u64> for Decimal {
    fn from(mut n: u64) -> Decimal {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal {
            digits,
            start: start as u8,
        }
    }
}

impl From<u32> for Decimal {
    fn from(n: u32) -> Decimal {
        Decimal::from(u64::from(n))
    }
}

impl From<u16> for Decimal {
    fn from(n: u16) -> Decimal {
        Decimal::from(u64::from(n))
    }
}

impl From<u8> for Decimal {
    fn from(n: u8) -> Decimal {
        Decimal::from(u64::from(n))
    }
}

impl AsRef<[u8]> for Decimal {
    fn as_ref(&self) -> &[u8] {
        &self.digits[usize::from(self.start)..]
    }
}

/// For a request that failed to parse: a response built from whatever Via, From, To,
/// Call-ID and CSeq lines can still be read, with the status the fault calls for. `None`
/// when nothing may or can be answered (a response, an ACK, no Via line).
pub fn best_effort_response(raw: &[u8], err: &ParseError) -> Option<Bytes> {
    let answer = crate::status::parse(err)?;
    let start = raw.iter().position(|b| *b != b'\r' && *b != b'\n')?;
    let raw = &raw[start..];
    if raw.starts_with(b"SIP/") || raw.starts_with(b"ACK ") {
        return None;
    }
    let mut out = BytesMut::with_capacity(512);
    out.put_slice(b"SIP/2.0 ");
    out.put_slice(Decimal::from(answer.status).as_ref());
    out.put_u8(b' ');
    out.put_slice(answer.phrase.as_bytes());
    out.put_slice(b"\r\n");
    let mut has_via = false;
    let lines = raw.split(|b| *b == b'\n').skip(1);
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = HeaderName::parse(super::lex::trim(&line[..colon]));
        let value = super::lex::trim(&line[colon + 1..]);
        if value.is_empty() || value.iter().any(|b| *b < 0x20 && *b != b'\t') {
            continue;
        }
        match name {
            HeaderName::Via => has_via = true,
            HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq => {}
            _ => continue,
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value);
        out.put_slice(b"\r\n");
    }
    if !has_via {
        return None;
    }
    out.put_slice(b"Content-Length: 0\r\n\r\n");
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Message {
        Message::parse(Bytes::from_static(
            b"INVITE sip:+15551234567@sb.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\n\
              From: <sip:+14155550100@10.0.0.1>;tag=c1\r\nTo: <sip:+15551234567@sb.example>\r\nCall-ID: abc@10.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap()
    }

    #[test]
    fn a_response_copies_the_dialog_headers_and_adds_the_to_tag() {
        let response = response_for(&request(), 486, "Busy Here").to_tag("sb1").build();
        assert_eq!(response.status(), Some(486));
        assert_eq!(response.headers(HeaderName::Via).count(), 2);
        assert_eq!(response.to().unwrap().tag, Some(&b"sb1"[..]));
        assert_eq!(response.call_id(), Some(&b"abc@10.0.0.1"[..]));
        let reparsed = Message::parse(response.to_bytes()).unwrap();
        assert_eq!(reparsed, response);
    }

    #[test]
    fn decimals_are_written_without_a_string() {
        for n in [0u64, 7, 10, 486, 65_535, u64::MAX] {
            assert_eq!(Decimal::from(n).as_ref(), n.to_string().as_bytes());
        }
    }

    #[test]
    fn a_response_keeps_a_to_tag_the_request_already_had() {
        let mut request = request();
        request.set_header(HeaderName::To, Bytes::from_static(b"<sip:x@y>;tag=old"));
        let response = response_for(&request, 200, b"OK").to_tag("sb1").build();
        assert_eq!(response.header(HeaderName::To), Some(&b"<sip:x@y>;tag=old"[..]));
        assert_eq!(response.reason(), Some(&b"OK"[..]));
    }

    #[test]
    fn a_100_trying_gets_no_to_tag() {
        let response = response_for(&request(), 100, "Trying").to_tag("sb1").build();
        assert_eq!(response.to().unwrap().tag, None);
    }

    #[test]
    fn a_built_request_parses_back_to_itself() {
        let built = RequestBuilder::new(Method::Invite, b"sip:agent@livekit.example")
            .header(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx")
            .raw_header(b"X-Switchboard-Org", "org-1")
            .header(HeaderName::ContentType, "application/sdp")
            .body(Bytes::from_static(b"v=0\r\n"))
            .build();
        assert_eq!(built.header_by_name("x-switchboard-org"), Some(&b"org-1"[..]));
        assert_eq!(Message::parse(built.to_bytes()).unwrap(), built);
        assert_eq!(built.body(), b"v=0\r\n");
    }

    #[test]
    fn an_unparsable_request_with_a_via_still_gets_an_answer() {
        let raw = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 9999\r\n\r\nv=0\r\n";
        let err = Message::parse(Bytes::from_static(raw)).unwrap_err();
        let answer = best_effort_response(raw, &err).unwrap();
        let answer = Message::parse(answer).unwrap();
        assert_eq!(answer.status(), Some(400));
        assert_eq!(answer.call_id(), Some(&b"x"[..]));
        assert!(best_effort_response(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", &err).is_none());
        assert!(best_effort_response(b"INVITE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n", &err).is_none());
    }
}
