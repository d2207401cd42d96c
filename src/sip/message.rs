//! The message model and its parser (RFC 3261 §7, §25): one pass over the bytes that finds
//! the start line, each header's name and value, and the body, and keeps them as spans into
//! the received `Bytes`. Nothing is copied and no header value is interpreted until asked
//! (see `accessors.rs`); edits (see `edit.rs`) replace single entries with owned bytes.

use bytes::Bytes;
use memchr::memchr;

use super::error::ParseError;
use super::header::HeaderName;
use super::limits::Limits;
use super::method::{is_token, Method};
use super::via::{Via, ViaSpans};

/// Text of a message part: a span of the received bytes, or (by index into
/// `Message::owned`) bytes an edit put there. Small and `Copy`, so a parse writes 12-byte
/// entries and dropping a message drops no per-header state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text {
    Span(u32, u32),
    Owned(u32),
}

/// One header line (with any folded continuation lines).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) name: HeaderName,
    pub(crate) name_text: Text,
    pub(crate) value: Text,
    /// The whole original line(s), written back verbatim when the message is serialized.
    pub(crate) line: Option<(u32, u32)>,
}

#[derive(Debug, Clone)]
pub(crate) enum StartLine {
    Request { method: Method, uri: Text },
    Response { status: u16, reason: Text },
}

/// A parsed SIP request or response.
#[derive(Debug, Clone)]
pub struct Message {
    pub(crate) raw: Bytes,
    pub(crate) start: StartLine,
    /// The original start line, while it is unedited.
    pub(crate) start_span: Option<(u32, u32)>,
    pub(crate) headers: Vec<Header>,
    pub(crate) body: Text,
    /// Where the message ends in `raw` (octets after it, such as a second message in a
    /// datagram, are not part of it: RFC 4475 §3.1.1.8).
    pub(crate) end: u32,
    pub(crate) edited: bool,
    /// Bytes that edits put into the message, referenced by `Text::Owned`.
    pub(crate) owned: Vec<Bytes>,
    /// The top Via as parsed when the message was (see [`TopVia`]).
    pub(crate) top_via: TopVia,
}

/// The first Via value, parsed once with the message: which header value it came from and
/// where its parts lie in that value. It stands while the first Via header still holds
/// that value (an edit that replaces or pushes a Via makes it stale, and `top_via` then
/// parses afresh), so it needs no upkeep from the edits. 18 bytes, aligned to one.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TopVia {
    /// The value's `Text`, packed: a span's start, or an owned index with the top bit set
    /// (a span's start names it: spans are never edited, only replaced by owned bytes).
    value: [u8; 4],
    pub(crate) spans: ViaSpans,
}

impl TopVia {
    const OWNED: u32 = 1 << 31;

    fn new(value: Text, spans: ViaSpans) -> TopVia {
        let id = match value {
            Text::Span(start, _) if start < TopVia::OWNED => start,
            Text::Owned(i) if i < TopVia::OWNED => i | TopVia::OWNED,
            _ => return TopVia::default(),
        };
        TopVia {
            value: id.to_le_bytes(),
            spans,
        }
    }

    /// The spans, when they were read from `value`.
    pub(crate) fn of(&self, value: &Text) -> Option<&ViaSpans> {
        let id = match *value {
            Text::Span(start, _) => start,
            Text::Owned(i) => i | TopVia::OWNED,
        };
        (self.spans.is_present() && u32::from_le_bytes(self.value) == id).then_some(&self.spans)
    }
}

impl Message {
    /// Parse one whole message (a datagram, or one frame of a stream) with default limits.
    pub fn parse(raw: Bytes) -> Result<Message, ParseError> {
        Message::parse_with(raw, &Limits::default())
    }

    /// Parse one whole message within `limits`.
    pub fn parse_with(raw: Bytes, limits: &Limits) -> Result<Message, ParseError> {
        if raw.len() > limits.max_message {
            return Err(ParseError::TooLarge {
                size: raw.len(),
                limit: limits.max_message,
            });
        }
        let buf = &raw[..];
        // RFC 3261 §7.5: CRLFs before the start line are ignored.
        let first = buf
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .ok_or(ParseError::Incomplete)?;
        let (line_end, mut pos) = line_at(buf, first, limits)?;
        let start = parse_start_line(buf, first, line_end)?;
        let mut headers: Vec<Header> = Vec::with_capacity(24);
        let body_start = loop {
            let (end, next) = line_at(buf, pos, limits)?;
            if end == pos {
                break next;
            }
            if buf[pos] == b' ' || buf[pos] == b'\t' {
                fold_into(
                    headers.last_mut().ok_or(ParseError::HeaderWithoutColon)?,
                    buf,
                    pos,
                    end,
                    limits,
                )?;
            } else {
                headers.push(parse_header_line(buf, pos, end)?);
                if headers.len() > limits.max_headers {
                    return Err(ParseError::TooManyHeaders {
                        limit: limits.max_headers,
                    });
                }
            }
            pos = next;
        };
        let available = buf.len() - body_start;
        let body_len = match content_length(buf, &headers)? {
            Some(declared) if declared > available => {
                return Err(ParseError::ContentLengthTooLarge { declared, available })
            }
            Some(declared) => declared,
            None => available,
        };
        let end = body_start + body_len;
        let mut message = Message {
            start,
            start_span: Some((first as u32, line_end as u32)),
            headers,
            body: Text::Span(body_start as u32, end as u32),
            end: end as u32,
            edited: false,
            owned: Vec::new(),
            top_via: TopVia::default(),
            raw,
        };
        message.top_via = message.parse_top_via();
        Ok(message)
    }

    /// Parse the first value of the first Via header, for [`TopVia`]; `None` when there is
    /// none or it is malformed (whoever asks then gets the fault from a fresh parse).
    pub(crate) fn parse_top_via(&self) -> TopVia {
        self.read_top_via().unwrap_or_default()
    }

    fn read_top_via(&self) -> Option<TopVia> {
        let header = self.headers.iter().find(|h| h.name == HeaderName::Via)?;
        let value = self.text(&header.value);
        // The first piece as written: when it is empty (`Via: , ...`) the value is left to
        // validation, which refuses it, and the cache stays empty.
        let (first, _) = super::lex::split_top_level(value, b',');
        let via = Via::parse(super::lex::trim(first)).ok()?;
        Some(TopVia::new(header.value, ViaSpans::of(&via, value)?))
    }

    /// The bytes of a `Text` of this message.
    pub(crate) fn text<'a>(&'a self, text: &'a Text) -> &'a [u8] {
        match text {
            Text::Span(start, end) => &self.raw[*start as usize..*end as usize],
            Text::Owned(i) => &self.owned[*i as usize],
        }
    }

    /// Keep `bytes` in the message and return the text that refers to them.
    pub(crate) fn own(&mut self, bytes: Bytes) -> Text {
        self.owned.push(bytes);
        Text::Owned(self.owned.len() as u32 - 1)
    }
}

/// The line starting at `pos`: (end without CR LF, start of the next line). Lines end in
/// CRLF; a bare LF is tolerated.
fn line_at(buf: &[u8], pos: usize, limits: &Limits) -> Result<(usize, usize), ParseError> {
    let lf = memchr(b'\n', &buf[pos..]).ok_or(ParseError::Incomplete)? + pos;
    if lf - pos > limits.max_line {
        return Err(ParseError::LineTooLong { limit: limits.max_line });
    }
    let end = if lf > pos && buf[lf - 1] == b'\r' { lf - 1 } else { lf };
    Ok((end, lf + 1))
}

fn parse_start_line(buf: &[u8], start: usize, end: usize) -> Result<StartLine, ParseError> {
    let line = &buf[start..end];
    if line.starts_with(b"SIP/") {
        return parse_status_line(line, start);
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (§25.1). Trailing white space is
    // tolerated (RFC 4475 §3.1.2.10 allows it); anything else out of place is a 400.
    let trimmed_end = line
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(0, |i| i + 1);
    let line = &line[..trimmed_end];
    let first_sp = memchr(b' ', line).ok_or(ParseError::BadStartLine)?;
    let last_sp = memchr::memrchr(b' ', line).ok_or(ParseError::BadStartLine)?;
    if first_sp == last_sp {
        return Err(ParseError::BadStartLine);
    }
    let method = &line[..first_sp];
    if !is_token(method) {
        return Err(ParseError::BadStartLine);
    }
    let version = &line[last_sp + 1..];
    check_version(version)?;
    let uri = &line[first_sp + 1..last_sp];
    // The URI's characters are checked by `validate_request`, off the parse path.
    if uri.is_empty() {
        return Err(ParseError::BadRequestUri);
    }
    let uri_start = (start + first_sp + 1) as u32;
    Ok(StartLine::Request {
        method: Method::parse(method),
        uri: Text::Span(uri_start, uri_start + uri.len() as u32),
    })
}

fn parse_status_line(line: &[u8], start: usize) -> Result<StartLine, ParseError> {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (the phrase may be empty).
    let sp = memchr(b' ', line).ok_or(ParseError::BadStartLine)?;
    check_version(&line[..sp])?;
    let rest = &line[sp + 1..];
    let code_len = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
    let code = &rest[..code_len];
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadStatus);
    }
    let status = code.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if !(100..=699).contains(&status) {
        return Err(ParseError::BadStatus);
    }
    let reason_start = (start + sp + 1 + (code_len + 1).min(rest.len())) as u32;
    Ok(StartLine::Response {
        status,
        reason: Text::Span(reason_start, (start + line.len()) as u32),
    })
}

/// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT, case-insensitive; we speak 2.0 only.
fn check_version(version: &[u8]) -> Result<(), ParseError> {
    if version.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    let looks_like_version = version.len() > 4
        && version[..4].eq_ignore_ascii_case(b"SIP/")
        && version[4..].iter().all(|b| b.is_ascii_digit() || *b == b'.');
    Err(if looks_like_version {
        ParseError::BadVersion
    } else {
        ParseError::BadStartLine
    })
}

fn parse_header_line(buf: &[u8], start: usize, end: usize) -> Result<Header, ParseError> {
    let line = &buf[start..end];
    // Names are short: a plain scan for the colon beats a SIMD search's set-up.
    let colon = line
        .iter()
        .position(|b| *b == b':')
        .ok_or(ParseError::HeaderWithoutColon)?;
    let mut name_end = colon;
    while name_end > 0 && (line[name_end - 1] == b' ' || line[name_end - 1] == b'\t') {
        name_end -= 1;
    }
    let name_text = &line[..name_end];
    let name = HeaderName::parse(name_text);
    // Known names are tokens by construction; only the others need the check.
    if name == HeaderName::Other && !is_token(name_text) {
        return Err(ParseError::BadHeaderName);
    }
    let (value_start, value_end) = trim_span(buf, start + colon + 1, end);
    Ok(Header {
        name,
        name_text: Text::Span(start as u32, (start + name_end) as u32),
        value: Text::Span(value_start as u32, value_end as u32),
        line: Some((start as u32, end as u32)),
    })
}

/// A continuation line (RFC 3261 §7.3.1): the value now runs to its end; the CRLF and
/// white space inside the span count as one SP to the typed parsers.
fn fold_into(header: &mut Header, buf: &[u8], start: usize, end: usize, limits: &Limits) -> Result<(), ParseError> {
    let (content_start, content_end) = trim_span(buf, start, end);
    let (Text::Span(value_start, value_end), Some((line_start, _))) = (&header.value, header.line) else {
        return Err(ParseError::HeaderWithoutColon);
    };
    if end - line_start as usize > limits.max_line {
        return Err(ParseError::LineTooLong { limit: limits.max_line });
    }
    if content_start < content_end {
        let new_start = if value_start == value_end {
            content_start as u32
        } else {
            *value_start
        };
        header.value = Text::Span(new_start, content_end as u32);
    }
    header.line = Some((line_start, end as u32));
    Ok(())
}

fn trim_span(buf: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && (buf[start] == b' ' || buf[start] == b'\t') {
        start += 1;
    }
    while end > start && (buf[end - 1] == b' ' || buf[end - 1] == b'\t') {
        end -= 1;
    }
    (start, end)
}

/// The declared body length; several Content-Length headers must agree.
fn content_length(buf: &[u8], headers: &[Header]) -> Result<Option<usize>, ParseError> {
    let mut found = None;
    for header in headers.iter().filter(|h| h.name == HeaderName::ContentLength) {
        let Text::Span(start, end) = header.value else { continue };
        let value = &buf[start as usize..end as usize];
        // Bounded before it is read as a number: a length off the wire never sizes anything.
        if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::BadContentLength);
        }
        let length = value.iter().fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'));
        if found.is_some_and(|f| f != length) {
            return Err(ParseError::BadContentLength);
        }
        found = Some(length);
    }
    Ok(found)
}
