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
    fn new() -> Writer {
        Writer {
            out: BytesMut::with_capacity(1024),
            headers: Vec::with_capacity(16),
        }
    }

    fn span(&mut self, bytes: &[u8]) -> Text {
        let start = self.out.len() as u32;
        self.out.put_slice(bytes);
        Text::Span(start, self.out.len() as u32)
    }

    fn header(&mut self, name: HeaderName, written: &[u8], value: &[u8]) {
        let line_start = self.out.len() as u32;
        let name_text = self.span(written);
        self.out.put_slice(b": ");
        let value = self.span(value);
        let line = Some((line_start, self.out.len() as u32));
        self.out.put_slice(b"\r\n");
        self.headers.push(Header {
            name,
            name_text,
            value,
            line,
        });
    }

    /// Copy a header of `from` as it stands: the received line verbatim when it is
    /// unedited (a list stays one line, nothing is split or re-joined), else name and value.
    fn copy_header(&mut self, from: &Message, header: &Header) {
        let (Some((line_start, line_end)), Text::Span(name_start, name_end), Text::Span(value_start, value_end)) =
            (header.line, header.name_text, header.value)
        else {
            self.header(header.name, from.name_of(header), from.text(&header.value));
            return;
        };
        let at = self.out.len() as u32;
        self.out.put_slice(&from.raw[line_start as usize..line_end as usize]);
        self.out.put_slice(b"\r\n");
        let moved = |offset: u32| at + offset - line_start;
        self.headers.push(Header {
            name: header.name,
            name_text: Text::Span(moved(name_start), moved(name_end)),
            value: Text::Span(moved(value_start), moved(value_end)),
            line: Some((at, moved(line_end))),
        });
    }

    fn finish(mut self, start: StartLine, start_end: u32, body: &[u8]) -> Message {
        let length = body.len().to_string();
        self.header(HeaderName::ContentLength, b"Content-Length", length.as_bytes());
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
        let mut writer = Writer::new();
        writer.out.put_slice(method.as_bytes());
        writer.out.put_u8(b' ');
        let uri = writer.span(uri);
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
    to: Bytes,
    to_has_tag: bool,
    to_tag: Option<Bytes>,
    body: Bytes,
}

/// Start a response to `request`: Via (all, in order), From, To, Call-ID and CSeq copied as
/// RFC 3261 §8.2.6.2 says.
pub fn response_for(request: &Message, status: u16, reason: &str) -> ResponseBuilder {
    let mut writer = Writer::new();
    writer.out.put_slice(b"SIP/2.0 ");
    // Three digits by hand, not `format!` (a status is 100-699).
    writer.out.put_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    let reason = writer.span(reason.as_bytes());
    let start_end = writer.out.len() as u32;
    writer.out.put_slice(b"\r\n");
    for via in request.headers.iter().filter(|h| h.name == HeaderName::Via) {
        writer.copy_header(request, via);
    }
    for name in [HeaderName::From, HeaderName::CallId, HeaderName::CSeq] {
        if let Some(value) = request.header(name) {
            writer.header(name, name.as_str().as_bytes(), value);
        }
    }
    let to = request
        .header(HeaderName::To)
        .map(Bytes::copy_from_slice)
        .unwrap_or_default();
    let to_has_tag = request.to().is_ok_and(|t| t.tag.is_some());
    ResponseBuilder {
        writer,
        start: StartLine::Response { status, reason },
        start_end,
        to,
        to_has_tag,
        to_tag: None,
        body: Bytes::new(),
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
        if !self.to.is_empty() {
            let mut to = BytesMut::from(&self.to[..]);
            if let (false, Some(tag), true) = (self.to_has_tag, &self.to_tag, status > 100) {
                to.put_slice(b";tag=");
                to.put_slice(tag);
            }
            self.writer.header(HeaderName::To, b"To", &to);
        }
        self.writer.finish(self.start, self.start_end, &self.body)
    }
}

/// For a request that failed to parse: a response built from whatever Via, From, To,
/// Call-ID and CSeq lines can still be read, with the status the fault calls for. `None`
/// when nothing may or can be answered (a response, an ACK, no Via line).
pub fn best_effort_response(raw: &[u8], err: &ParseError) -> Option<Bytes> {
    let status = err.status()?;
    let start = raw.iter().position(|b| *b != b'\r' && *b != b'\n')?;
    let raw = &raw[start..];
    if raw.starts_with(b"SIP/") || raw.starts_with(b"ACK ") {
        return None;
    }
    let mut out = BytesMut::with_capacity(512);
    out.put_slice(format!("SIP/2.0 {status} {}\r\n", err.reason_phrase()).as_bytes());
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
