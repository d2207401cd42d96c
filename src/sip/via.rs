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
        if params.split(|b| *b == b';').skip(1).any(|p| trim(p).is_empty()) {
            return Err(BAD);
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

    #[test]
    fn a_via_without_sent_by_or_version_is_malformed() {
        assert!(Via::parse(b"SIP/2.0/UDP").is_err());
        assert!(Via::parse(b"SIP/UDP host").is_err());
        assert!(Via::parse(b"garbage").is_err());
    }
}
