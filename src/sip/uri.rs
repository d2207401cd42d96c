//! URIs (RFC 3261 §19.1, RFC 3966 for `tel:`): scheme, user, host, port, parameters and
//! headers as slices of the text, parsed only when asked. `%HEX` escapes stay as written;
//! [`unescape`] decodes them where a comparison needs it (§19.1.4).

use std::borrow::Cow;

use super::lex::Params;

/// The schemes we recognise; anything else is carried as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    Other,
}

/// A parsed URI, borrowing from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri<'a> {
    pub scheme: Scheme,
    /// The user part (`sip:`), or the number (`tel:`).
    pub user: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
    /// The host, with IPv6 references keeping their brackets; empty for `tel:` and others.
    pub host: &'a [u8],
    pub port: Option<u16>,
    /// The `;name=value` parameters, from the first `;` (empty when none).
    pub params: &'a [u8],
    /// The `?headers` part, without the `?`.
    pub headers: Option<&'a [u8]>,
    /// The whole URI text.
    pub text: &'a [u8],
}

/// Why a URI did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("no scheme")]
    NoScheme,
    #[error("empty host")]
    NoHost,
    #[error("bad port")]
    BadPort,
    #[error("bad character in URI")]
    BadChar,
}

impl<'a> Uri<'a> {
    pub fn parse(text: &'a [u8]) -> Result<Uri<'a>, UriError> {
        let colon = text.iter().position(|b| *b == b':').ok_or(UriError::NoScheme)?;
        let scheme_text = &text[..colon];
        if scheme_text.is_empty()
            || !scheme_text[0].is_ascii_alphabetic()
            || !scheme_text
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
        {
            return Err(UriError::NoScheme);
        }
        if text.iter().any(|b| *b <= b' ' || *b == 0x7f) {
            return Err(UriError::BadChar);
        }
        let rest = &text[colon + 1..];
        let scheme = match scheme_text {
            s if s.eq_ignore_ascii_case(b"sip") => Scheme::Sip,
            s if s.eq_ignore_ascii_case(b"sips") => Scheme::Sips,
            s if s.eq_ignore_ascii_case(b"tel") => Scheme::Tel,
            _ => Scheme::Other,
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => parse_sip(scheme, rest, text),
            Scheme::Tel => {
                let (number, params) = split_at_byte(rest, b';');
                Ok(Uri {
                    scheme,
                    user: Some(number),
                    password: None,
                    host: b"",
                    port: None,
                    params,
                    headers: None,
                    text,
                })
            }
            Scheme::Other => Ok(Uri {
                scheme,
                user: None,
                password: None,
                host: b"",
                port: None,
                params: b"",
                headers: None,
                text,
            }),
        }
    }

    /// A URI parameter's value (`Some(None)` when present without one).
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        Params::new(self.params).value_of(name)
    }
}

fn parse_sip<'a>(scheme: Scheme, rest: &'a [u8], text: &'a [u8]) -> Result<Uri<'a>, UriError> {
    // The user part may hold ';', '?' and ',' (RFC 4475 §3.1.1.2, §3.1.1.9), so the host is
    // found after the last '@' before anything else is split.
    let (userinfo, after_user) = match rest.iter().rposition(|b| *b == b'@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (hostport_params, headers) = match after_user.iter().position(|b| *b == b'?') {
        Some(q) => (&after_user[..q], Some(&after_user[q + 1..])),
        None => (after_user, None),
    };
    let (user, password) = match userinfo {
        Some(info) => match info.iter().position(|b| *b == b':') {
            Some(c) => (Some(&info[..c]), Some(&info[c + 1..])),
            None => (Some(info), None),
        },
        None => (None, None),
    };
    let (hostport, params) = split_at_byte(hostport_params, b';');
    let (host, port) = split_host_port(hostport)?;
    if host.is_empty() {
        return Err(UriError::NoHost);
    }
    Ok(Uri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
        text,
    })
}

/// `host[:port]`, with IPv6 references in brackets (RFC 5118).
pub fn split_host_port(hostport: &[u8]) -> Result<(&[u8], Option<u16>), UriError> {
    let (host, port_text) = if hostport.first() == Some(&b'[') {
        let close = hostport.iter().position(|b| *b == b']').ok_or(UriError::NoHost)?;
        // RFC 5954: the reference must hold a real IPv6 address (no `:::`).
        let inner = std::str::from_utf8(&hostport[1..close]).map_err(|_| UriError::BadChar)?;
        inner.parse::<std::net::Ipv6Addr>().map_err(|_| UriError::NoHost)?;
        let after = &hostport[close + 1..];
        match after {
            [] => (&hostport[..=close], None),
            [b':', port @ ..] => (&hostport[..=close], Some(port)),
            _ => return Err(UriError::BadPort),
        }
    } else {
        match hostport.iter().position(|b| *b == b':') {
            Some(c) => (&hostport[..c], Some(&hostport[c + 1..])),
            None => (hostport, None),
        }
    };
    if !host
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':' | b'_'))
    {
        return Err(UriError::BadChar);
    }
    let port = match port_text {
        None => None,
        Some(p) => Some(parse_port(p).ok_or(UriError::BadPort)?),
    };
    Ok((host, port))
}

pub fn parse_port(p: &[u8]) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) {
        return None;
    }
    p.iter()
        .try_fold(0u32, |acc, d| Some(acc * 10 + u32::from(d - b'0')))
        .and_then(|v| u16::try_from(v).ok())
}

fn split_at_byte(s: &[u8], byte: u8) -> (&[u8], &[u8]) {
    match s.iter().position(|b| *b == byte) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, b""),
    }
}

/// Decode `%HEX` escapes; a `%00` stays a NUL byte, it never ends the string (RFC 4475
/// §3.1.1.4). Malformed escapes are kept as written.
pub fn unescape(s: &[u8]) -> Cow<'_, [u8]> {
    if !s.contains(&b'%') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let decoded = (s[i] == b'%' && i + 2 < s.len())
            .then(|| Some((hex(s[i + 1])? << 4) | hex(s[i + 2])?))
            .flatten();
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(s[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sip_uri_splits_into_its_parts() {
        let uri = Uri::parse(b"sip:+15551234567;npdi@carrier.example.com:5080;transport=tcp;lr?Subject=x").unwrap();
        assert_eq!(uri.scheme, Scheme::Sip);
        assert_eq!(uri.user, Some(&b"+15551234567;npdi"[..]));
        assert_eq!(uri.host, b"carrier.example.com");
        assert_eq!(uri.port, Some(5080));
        assert_eq!(uri.param(b"transport"), Some(Some(&b"tcp"[..])));
        assert_eq!(uri.param(b"lr"), Some(None));
        assert_eq!(uri.headers, Some(&b"Subject=x"[..]));
    }

    #[test]
    fn ipv6_references_keep_their_brackets_and_port() {
        let uri = Uri::parse(b"sips:alice@[2001:db8::10]:5061").unwrap();
        assert_eq!(uri.host, b"[2001:db8::10]");
        assert_eq!(uri.port, Some(5061));
        assert_eq!(Uri::parse(b"sip:[2001:db8::10").unwrap_err(), UriError::NoHost);
    }

    #[test]
    fn tel_uris_carry_the_number_and_its_parameters() {
        let uri = Uri::parse(b"tel:+1-555-123-4567;npdi;rn=+15559990000").unwrap();
        assert_eq!(uri.scheme, Scheme::Tel);
        assert_eq!(uri.user, Some(&b"+1-555-123-4567"[..]));
        assert_eq!(uri.param(b"rn"), Some(Some(&b"+15559990000"[..])));
    }

    #[test]
    fn escapes_decode_and_a_nul_does_not_shorten_the_user() {
        assert_eq!(&*unescape(b"sips%3Auser%40example.com"), b"sips:user@example.com");
        assert_eq!(&*unescape(b"null-%00-null"), b"null-\0-null");
        assert_eq!(&*unescape(b"bad%zzend%4"), b"bad%zzend%4");
    }

    #[test]
    fn bad_ports_and_missing_schemes_are_errors() {
        assert_eq!(Uri::parse(b"sip:a@b:99999").unwrap_err(), UriError::BadPort);
        assert_eq!(Uri::parse(b"nocolon").unwrap_err(), UriError::NoScheme);
        assert_eq!(Uri::parse(b"sip:a@b c").unwrap_err(), UriError::BadChar);
    }
}
