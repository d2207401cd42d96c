//! Editing and writing messages. An edit replaces or inserts single entries with owned
//! bytes; serialization writes untouched header lines verbatim from the received bytes, so
//! adding a Via or removing a Route costs one entry, not a re-serialization.

use bytes::{BufMut, Bytes, BytesMut};

use super::builder::Decimal;
use super::header::HeaderName;
use super::lex::split_top_level;
use super::message::{Header, Message, StartLine};

impl Message {
    /// Insert a value before the first header of that name (or first, when there is none):
    /// a new top Via, a new top Record-Route.
    pub fn push_header_top(&mut self, name: HeaderName, value: Bytes) {
        let at = self.headers.iter().position(|h| h.name == name).unwrap_or(0);
        let entry = self.owned_header(name, value);
        self.headers.insert(at, entry);
        self.edited = true;
    }

    /// Remove the first value of a header (one element, when several share a line).
    pub fn remove_first(&mut self, name: HeaderName) -> bool {
        let Some(i) = self.headers.iter().position(|h| h.name == name) else {
            return false;
        };
        self.edited = true;
        if name.is_list() {
            let value = self.text(&self.headers[i].value);
            if let (_, Some(rest)) = split_top_level(value, b',') {
                let rest = Bytes::copy_from_slice(super::lex::trim(rest));
                if !rest.is_empty() {
                    self.headers[i].value = self.own(rest);
                    self.headers[i].line = None;
                    return true;
                }
            }
        }
        self.headers.remove(i);
        true
    }

    pub fn remove_all(&mut self, name: HeaderName) {
        let before = self.headers.len();
        self.headers.retain(|h| h.name != name);
        self.edited |= before != self.headers.len();
    }

    /// Replace every value of a header with one value, where the first one stood.
    pub fn set_header(&mut self, name: HeaderName, value: Bytes) {
        let at = self.headers.iter().position(|h| h.name == name);
        self.remove_all(name);
        let entry = self.owned_header(name, value);
        match at {
            Some(i) => self.headers.insert(i.min(self.headers.len()), entry),
            None => self.headers.push(entry),
        }
        self.edited = true;
    }

    pub fn append_header(&mut self, name: HeaderName, value: Bytes) {
        let entry = self.owned_header(name, value);
        self.headers.push(entry);
        self.edited = true;
    }

    /// Append a header by its written name (`X-` headers and others we only carry).
    pub fn append_raw_header(&mut self, name: &str, value: Bytes) {
        let name_text = self.own(Bytes::copy_from_slice(name.as_bytes()));
        let value = self.own(value);
        self.headers.push(Header {
            name: HeaderName::parse(name.as_bytes()),
            name_text,
            value,
            line: None,
        });
        self.edited = true;
    }

    pub fn set_request_uri(&mut self, new_uri: Bytes) {
        if matches!(self.start, StartLine::Request { .. }) {
            let text = self.own(new_uri);
            if let StartLine::Request { uri, .. } = &mut self.start {
                *uri = text;
            }
            self.start_span = None;
            self.edited = true;
        }
    }

    /// Replace the body and its Content-Length.
    pub fn set_body(&mut self, body: Bytes) {
        let length = Bytes::copy_from_slice(Decimal::from(body.len() as u64).as_ref());
        self.body = self.own(body);
        self.set_header(HeaderName::ContentLength, length);
    }

    /// The message as bytes: the received bytes themselves while unedited.
    pub fn to_bytes(&self) -> Bytes {
        if !self.edited {
            let start = self.start_span.map_or(0, |(s, _)| s as usize);
            return self.raw.slice(start..self.end as usize);
        }
        let body = self.body();
        let mut out = BytesMut::with_capacity(self.raw.len() + 256);
        self.write_start_line(&mut out);
        for header in &self.headers {
            match header.line {
                Some((start, end)) => out.put_slice(&self.raw[start as usize..end as usize]),
                None => {
                    out.put_slice(self.name_of(header));
                    out.put_slice(b": ");
                    out.put_slice(self.text(&header.value));
                }
            }
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        out.put_slice(body);
        out.freeze()
    }

    fn write_start_line(&self, out: &mut BytesMut) {
        if let Some((start, end)) = self.start_span {
            out.put_slice(&self.raw[start as usize..end as usize]);
        } else {
            match &self.start {
                StartLine::Request { method, uri } => {
                    out.put_slice(method.as_bytes());
                    out.put_u8(b' ');
                    out.put_slice(self.text(uri));
                    out.put_slice(b" SIP/2.0");
                }
                StartLine::Response { status, reason } => {
                    out.put_slice(b"SIP/2.0 ");
                    out.put_slice(Decimal::from(*status).as_ref());
                    out.put_u8(b' ');
                    out.put_slice(self.text(reason));
                }
            }
        }
        out.put_slice(b"\r\n");
    }
}

impl Message {
    fn owned_header(&mut self, name: HeaderName, value: Bytes) -> Header {
        let name_text = self.own(Bytes::from_static(name.as_str().as_bytes()));
        let value = self.own(value);
        Header {
            name,
            name_text,
            value,
            line: None,
        }
    }
}

/// Two messages are equal when they say the same thing: start line, header names and values
/// in order, and body (however each is stored).
impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        let start_eq = match (&self.start, &other.start) {
            (StartLine::Request { method: m1, uri: u1 }, StartLine::Request { method: m2, uri: u2 }) => {
                m1 == m2 && self.text(u1) == other.text(u2)
            }
            (StartLine::Response { status: s1, reason: r1 }, StartLine::Response { status: s2, reason: r2 }) => {
                s1 == s2 && self.text(r1) == other.text(r2)
            }
            _ => false,
        };
        start_eq
            && self.body() == other.body()
            && self.headers.len() == other.headers.len()
            && self
                .iter_headers()
                .zip(other.iter_headers())
                .all(|((n1, v1), (n2, v2))| n1.eq_ignore_ascii_case(n2) && v1 == v2)
    }
}
