//! Reading a message: the start line, header values by name (every value of list headers,
//! in order, across lines), and typed views parsed on demand from those values.

use bytes::Bytes;

use super::cseq::CSeq;
use super::error::ParseError;
use super::header::HeaderName;
use super::lex::CommaValues;
use super::message::{Header, Message, StartLine};
use super::method::Method;
use super::name_addr::NameAddr;
use super::via::Via;

impl Message {
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The request-URI as written.
    pub fn request_uri(&self) -> Option<&[u8]> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(self.text(uri)),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&[u8]> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(self.text(reason)),
            StartLine::Request { .. } => None,
        }
    }

    /// The first value of a header (the first element, for list headers).
    pub fn header(&self, name: HeaderName) -> Option<&[u8]> {
        // As `headers(name).next()`, without the iterator chain: this runs for every
        // Call-ID, CSeq, From and To read.
        let split = name.is_list();
        for header in self.headers.iter().filter(|h| h.name == name) {
            let value = self.text(&header.value);
            if !split {
                return Some(super::lex::trim(value));
            }
            if let Some(first) = CommaValues::new(value).next() {
                return Some(first);
            }
        }
        None
    }

    /// Every value of a header, in order: list headers are split at top-level commas, so
    /// `Via: a, b` and two Via lines read the same.
    pub fn headers(&self, name: HeaderName) -> impl Iterator<Item = &[u8]> {
        let split = name.is_list();
        self.headers.iter().filter(move |h| h.name == name).flat_map(move |h| {
            let value = self.text(&h.value);
            let (whole, list) = if split {
                (None, Some(CommaValues::new(value)))
            } else {
                (Some(super::lex::trim(value)), None)
            };
            whole.into_iter().chain(list.into_iter().flatten())
        })
    }

    /// The first value of a header named as written (case-insensitive; compact forms and
    /// full names of known headers are equivalent). For `X-` and other carried headers.
    pub fn header_by_name(&self, name: &str) -> Option<&[u8]> {
        let known = HeaderName::parse(name.as_bytes());
        if known != HeaderName::Other {
            return self.header(known);
        }
        self.headers
            .iter()
            .find(|h| h.name == HeaderName::Other && self.text(&h.name_text).eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| super::lex::trim(self.text(&h.value)))
    }

    /// Every header line as (name as written, value), in order.
    pub fn iter_headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers.iter().map(|h| (self.name_of(h), self.text(&h.value)))
    }

    /// How many header lines carry `name`.
    pub fn count(&self, name: HeaderName) -> usize {
        self.headers.iter().filter(|h| h.name == name).count()
    }

    /// The first Via value: read back from the parse of it the message made when it was
    /// parsed (or last refreshed), parsed afresh only after an edit replaced it.
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        if let Some(header) = self.headers.iter().find(|h| h.name == HeaderName::Via) {
            if let Some(spans) = self.top_via.of(&header.value) {
                return Ok(spans.view(self.text(&header.value)));
            }
        }
        Via::parse(
            self.header(HeaderName::Via)
                .ok_or(ParseError::MissingHeader { header: "Via" })?,
        )
    }

    /// Parse the top Via again after an edit put a new one there (so that the layers
    /// after the edit read it without parsing it each).
    pub fn refresh_top_via(&mut self) {
        self.top_via = self.parse_top_via();
    }

    pub fn call_id(&self) -> Option<&[u8]> {
        self.header(HeaderName::CallId)
    }

    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(
            self.header(HeaderName::CSeq)
                .ok_or(ParseError::MissingHeader { header: "CSeq" })?,
        )
    }

    pub fn from(&self) -> Result<NameAddr<'_>, ParseError> {
        NameAddr::parse(
            self.header(HeaderName::From)
                .ok_or(ParseError::MissingHeader { header: "From" })?,
            "From",
        )
    }

    pub fn to(&self) -> Result<NameAddr<'_>, ParseError> {
        NameAddr::parse(
            self.header(HeaderName::To)
                .ok_or(ParseError::MissingHeader { header: "To" })?,
            "To",
        )
    }

    /// The To tag, read without parsing the URI (the hot path asks this of every request).
    pub fn to_tag(&self) -> Option<&[u8]> {
        header_tag(self.header(HeaderName::To)?)
    }

    /// The From tag, likewise.
    pub fn from_tag(&self) -> Option<&[u8]> {
        header_tag(self.header(HeaderName::From)?)
    }

    pub fn contact(&self) -> Option<Result<NameAddr<'_>, ParseError>> {
        self.header(HeaderName::Contact).map(|v| NameAddr::parse(v, "Contact"))
    }

    /// Max-Forwards (§20.22): 0-255; `None` when absent.
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        let Some(value) = self.header(HeaderName::MaxForwards) else {
            return Ok(None);
        };
        let bad = ParseError::BadHeader { header: "Max-Forwards" };
        if value.is_empty() || value.len() > 8 || !value.iter().all(u8::is_ascii_digit) {
            return Err(bad);
        }
        let n = value.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        u8::try_from(n).map(Some).map_err(|_| bad)
    }

    pub fn content_type(&self) -> Option<&[u8]> {
        self.header(HeaderName::ContentType)
    }

    pub fn body(&self) -> &[u8] {
        self.text(&self.body)
    }

    /// The body as shared bytes (no copy when it is a span of the received message).
    pub fn body_bytes(&self) -> Bytes {
        match &self.body {
            super::message::Text::Span(start, end) => self.raw.slice(*start as usize..*end as usize),
            super::message::Text::Owned(i) => self.owned[*i as usize].clone(),
        }
    }

    /// The bytes as received.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    pub(crate) fn name_of<'a>(&'a self, header: &'a Header) -> &'a [u8] {
        if header.name == HeaderName::Other {
            self.text(&header.name_text)
        } else {
            match &header.name_text {
                super::message::Text::Owned(_) => header.name.as_str().as_bytes(),
                span => self.text(span),
            }
        }
    }
}

/// The `tag` parameter of a From/To value: header parameters follow the `>` of a name-addr,
/// or the first `;` of an addr-spec (RFC 3261 §20.10).
fn header_tag(value: &[u8]) -> Option<&[u8]> {
    let params = match memchr::memrchr(b'>', value) {
        Some(gt) => &value[gt + 1..],
        None => value,
    };
    super::lex::Params::new(params)
        .value_of(b"tag")
        .flatten()
        .filter(|t| !t.is_empty())
}
