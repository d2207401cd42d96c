//! Via (RFC 3261 §20.42, §18.2.1; RFC 3581 `rport`): the transport, the sent-by and the
//! parameters that route responses and key transactions.

use super::error::ParseError;
use super::lex::{is_lws, trim, Params};
use super::method::is_token_char;
use super::uri::split_host_port;

/// One Via value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// UDP, TCP, TLS, SCTP, WS... as written.
    pub transport: &'a [u8],
    pub host: &'a [u8],
    pub port: Option<u16>,
    pub branch: Option<&'a [u8]>,
    pub received: Option<&'a [u8]>,
    /// `Some(None)`: `rport` without a value (the client asks for it, RFC 3581 §3).
    pub rport: Option<Option<u16>>,
    /// The parameters, from the first `;`.
    pub params: &'a [u8],
    /// `host[:port]` as written.
    pub sent_by: &'a [u8],
}

const BAD: ParseError = ParseError::BadHeader { header: "Via" };

impl<'a> Via<'a> {
    pub fn parse(value: &'a [u8]) -> Result<Via<'a>, ParseError> {
        let (name, rest) = protocol_part(value)?;
        if !name.eq_ignore_ascii_case(b"SIP") {
            return Err(BAD);
        }
        let (version, rest) = protocol_part(rest)?;
        if !version.eq_ignore_ascii_case(b"2.0") {
            return Err(BAD);
        }
        let rest = skip_lws(rest);
        let transport_len = rest.iter().position(|b| !is_token_char(*b)).unwrap_or(rest.len());
        let (transport, rest) = rest.split_at(transport_len);
        if transport.is_empty() {
            return Err(BAD);
        }
        let rest = skip_lws(rest);
        let sent_by_len = rest.iter().position(|b| *b == b';' || is_lws(*b)).unwrap_or(rest.len());
        let (sent_by, params) = rest.split_at(sent_by_len);
        let (host, port) = split_host_port(sent_by).map_err(|_| BAD)?;
        if host.is_empty() {
            return Err(BAD);
        }
        let params = trim(params);
        if !params.is_empty() && params[0] != b';' {
            return Err(BAD);
        }
        // Empty parameters (`;;`, a trailing `;`) are extraneous separators (RFC 4475 §3.1.2.1).
        let mut pieces = memchr::memchr_iter(b';', params).peekable();
        while let Some(semi) = pieces.next() {
            let end = pieces.peek().copied().unwrap_or(params.len());
            if params[semi + 1..end].iter().all(|b| is_lws(*b)) {
                return Err(BAD);
            }
        }
        let mut via = Via {
            transport,
            host,
            port,
            branch: None,
            received: None,
            rport: None,
            params,
            sent_by,
        };
        for (name, value) in Params::new(params) {
            if name.eq_ignore_ascii_case(b"branch") {
                via.branch = value;
            } else if name.eq_ignore_ascii_case(b"received") {
                via.received = value;
            } else if name.eq_ignore_ascii_case(b"rport") {
                via.rport = Some(value.and_then(super::uri::parse_port));
            }
        }
        Ok(via)
    }

    /// RFC 3261 §17.2.3: a branch with the magic cookie identifies the transaction alone.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .is_some_and(|b| b.len() > 7 && b[..7].eq_ignore_ascii_case(b"z9hG4bK"))
    }
}

/// A parsed Via kept as offsets into the header value it was read from, so that a message
/// parses its top Via once and every layer after (validation, the transaction key, the
/// reply address, the shard) reads it back without a second parse.
///
/// Small on purpose (14 bytes: it lives in every `Message`, and the messages a call keeps
/// count against its memory): one-byte offsets, so a first Via value ending past byte 255
/// is not kept (it is parsed on each ask, as before); the port is read back from the
/// sent-by, which parsing already checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ViaSpans {
    transport: Span,
    host: Span,
    sent_by_end: u8,
    params: Span,
    branch: Span,
    received: Span,
    rport: [u8; 2],
    /// `PRESENT` and the `HAS_*` bits below.
    flags: u8,
}

/// `[start, end)` within the header value.
type Span = [u8; 2];

const PRESENT: u8 = 1;
const HAS_BRANCH: u8 = 2;
const HAS_RECEIVED: u8 = 4;
const HAS_RPORT: u8 = 8;
const HAS_RPORT_VALUE: u8 = 16;

impl ViaSpans {
    /// Where the parts of `via` lie in `value`, which they must be slices of; `None` when
    /// they lie past the reach of one-byte offsets.
    pub(crate) fn of(via: &Via<'_>, value: &[u8]) -> Option<ViaSpans> {
        let base = value.as_ptr() as usize;
        let span = |part: &[u8]| -> Option<Span> {
            let start = (part.as_ptr() as usize).wrapping_sub(base);
            if part.is_empty() && start > value.len() {
                return Some([0, 0]); // an empty constant, not a slice of the value
            }
            assert!(start + part.len() <= value.len(), "a Via part lies in its value");
            Some([u8::try_from(start).ok()?, u8::try_from(start + part.len()).ok()?])
        };
        let mut flags = PRESENT;
        let mut optional = |part: Option<&[u8]>, bit: u8| match part {
            Some(part) => {
                flags |= bit;
                span(part)
            }
            None => Some([0, 0]),
        };
        let branch = optional(via.branch, HAS_BRANCH)?;
        let received = optional(via.received, HAS_RECEIVED)?;
        let rport = match via.rport {
            Some(Some(port)) => {
                flags |= HAS_RPORT | HAS_RPORT_VALUE;
                port.to_le_bytes()
            }
            Some(None) => {
                flags |= HAS_RPORT;
                [0, 0]
            }
            None => [0, 0],
        };
        Some(ViaSpans {
            transport: span(via.transport)?,
            host: span(via.host)?,
            sent_by_end: span(via.sent_by)?[1],
            params: span(via.params)?,
            branch,
            received,
            rport,
            flags,
        })
    }

    /// Whether this holds a Via (the default holds none).
    pub(crate) fn is_present(&self) -> bool {
        self.flags & PRESENT != 0
    }

    /// The Via again, read from the same value.
    pub(crate) fn view<'a>(&self, value: &'a [u8]) -> Via<'a> {
        let at = |[start, end]: Span| &value[usize::from(start)..usize::from(end)];
        let has = |bit: u8| self.flags & bit != 0;
        let host = at(self.host);
        let sent_by = at([self.host[0], self.sent_by_end]);
        // `host:port` checked when parsed: what follows the host is `:` and the port.
        let port = sent_by.get(host.len() + 1..).and_then(super::uri::parse_port);
        Via {
            transport: at(self.transport),
            host,
            port,
            branch: has(HAS_BRANCH).then(|| at(self.branch)),
            received: has(HAS_RECEIVED).then(|| at(self.received)),
            rport: has(HAS_RPORT).then(|| has(HAS_RPORT_VALUE).then(|| u16::from_le_bytes(self.rport))),
            params: at(self.params),
            sent_by,
        }
    }
}

/// `token LWS? "/"` — one part of `SIP / 2.0 / UDP`, with LWS allowed around the slash.
fn protocol_part(s: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    let s = skip_lws(s);
    let len = s.iter().position(|b| !is_token_char(*b)).unwrap_or(s.len());
    let (token, rest) = s.split_at(len);
    match skip_lws(rest) {
        [b'/', rest @ ..] if !token.is_empty() => Ok((token, rest)),
        _ => Err(BAD),
    }
}

fn skip_lws(s: &[u8]) -> &[u8] {
    let n = s.iter().position(|b| !is_lws(*b)).unwrap_or(s.len());
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_via_yields_transport_sent_by_and_parameters() {
        let via = Via::parse(b"SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK776;rport;received=10.0.0.1").unwrap();
        assert_eq!(via.transport, b"UDP");
        assert_eq!(via.host, b"192.0.2.1");
        assert_eq!(via.port, Some(5062));
        assert_eq!(via.branch, Some(&b"z9hG4bK776"[..]));
        assert_eq!(via.rport, Some(None));
        assert_eq!(via.received, Some(&b"10.0.0.1"[..]));
        assert!(via.has_rfc3261_branch());
    }

    #[test]
    fn white_space_and_folding_around_the_slashes_are_linear_white_space() {
        let via = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(via.transport, b"UDP");
        assert_eq!(via.host, b"192.0.2.2");
        assert!(!via.has_rfc3261_branch());
    }

    #[test]
    fn ipv6_sent_by_and_rport_values_parse() {
        let via = Via::parse(b"SIP/2.0/TCP [2001:db8::9:1]:5070;branch=z9hG4bKas3;rport=6000").unwrap();
        assert_eq!(via.host, b"[2001:db8::9:1]");
        assert_eq!(via.port, Some(5070));
        assert_eq!(via.rport, Some(Some(6000)));
    }

    fn message(vias: &str) -> crate::sip::Message {
        let raw = format!(
            "OPTIONS sip:a@b SIP/2.0\r\n{vias}From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        crate::sip::Message::parse(bytes::Bytes::from(raw)).unwrap()
    }

    #[test]
    fn the_top_via_parsed_with_the_message_reads_back_as_a_fresh_parse() {
        for vias in [
            "Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK776;rport;received=10.0.0.1\r\n",
            "v: SIP/2.0/TCP [2001:db8::9:1]:5070;branch=z9hG4bKas3;rport=6000, SIP/2.0/UDP h2\r\n",
            "Via: SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\nVia: SIP/2.0/UDP h3\r\n",
            "Via: SIP/2.0/UDP h;branch=;received=\r\n",
        ] {
            let m = message(vias);
            assert!(m.top_via.spans.is_present(), "{vias}");
            let fresh = Via::parse(m.header(crate::sip::HeaderName::Via).unwrap()).unwrap();
            assert_eq!(m.top_via().unwrap(), fresh, "{vias}");
        }
    }

    #[test]
    fn a_top_via_replaced_by_an_edit_is_read_afresh() {
        use crate::sip::HeaderName;
        let mut m = message("Via: SIP/2.0/UDP h1;branch=z9hG4bK1, SIP/2.0/UDP h2;branch=z9hG4bK2\r\n");
        m.remove_first(HeaderName::Via);
        assert_eq!(m.top_via().unwrap().host, b"h2");
        m.push_header_top(
            HeaderName::Via,
            bytes::Bytes::from_static(b"SIP/2.0/UDP h0;branch=z9hG4bK0"),
        );
        assert_eq!(m.top_via().unwrap().host, b"h0");
        m.refresh_top_via();
        assert_eq!(m.top_via().unwrap().branch, Some(&b"z9hG4bK0"[..]));
    }

    #[test]
    fn an_empty_or_malformed_first_via_value_is_not_cached_and_still_refused() {
        for vias in ["Via: , SIP/2.0/UDP h2\r\n", "Via: SIP/2.0/UDP h1;;branch=x\r\n"] {
            let m = message(vias);
            assert!(!m.top_via.spans.is_present(), "{vias}");
            let refused = crate::sip::validate_request(&m).unwrap_err();
            assert_eq!((refused.status, refused.reason), (400, "Bad Via"), "{vias}");
        }
    }

    #[test]
    fn a_via_without_sent_by_or_version_is_malformed() {
        assert!(Via::parse(b"SIP/2.0/UDP").is_err());
        assert!(Via::parse(b"SIP/UDP host").is_err());
        assert!(Via::parse(b"garbage").is_err());
    }
}
