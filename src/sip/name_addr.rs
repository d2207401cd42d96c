//! name-addr / addr-spec headers (From, To, Contact, Route, Record-Route, P-Asserted-
//! Identity; RFC 3261 §20.10, §25.1): display name, URI, and the header parameters such as
//! `tag`.

use super::error::ParseError;
use super::lex::{quoted_end, trim, Params};
use super::method::is_token_char;
use super::uri::Uri;

/// One name-addr or addr-spec value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name: inside the quotes when quoted, else as written.
    pub display: Option<&'a [u8]>,
    pub uri: Uri<'a>,
    /// The `tag` parameter (From/To).
    pub tag: Option<&'a [u8]>,
    /// Header parameters, from the first `;` after the URI.
    pub params: &'a [u8],
}

impl<'a> NameAddr<'a> {
    /// Parse one value; `header` names it in the error.
    pub fn parse(value: &'a [u8], header: &'static str) -> Result<NameAddr<'a>, ParseError> {
        let bad = ParseError::BadHeader { header };
        let value = trim(value);
        let (display, rest) = if value.first() == Some(&b'"') {
            let end = quoted_end(value).ok_or(bad.clone())?;
            (Some(&value[1..end]), trim(&value[end + 1..]))
        } else if let Some(lt) = value.iter().position(|b| *b == b'<') {
            let name = trim(&value[..lt]);
            // An unquoted display name is tokens separated by white space (RFC 4475 §3.1.2.15).
            if !name.iter().all(|b| is_token_char(*b) || super::lex::is_lws(*b)) {
                return Err(bad);
            }
            ((!name.is_empty()).then_some(name), &value[lt..])
        } else {
            (None, value)
        };
        let (uri_text, params) = if rest.first() == Some(&b'<') {
            let gt = rest.iter().position(|b| *b == b'>').ok_or(bad.clone())?;
            (&rest[1..gt], trim(&rest[gt + 1..]))
        } else if display.is_some() {
            return Err(bad);
        } else {
            // addr-spec: parameters after ';' belong to the header, not the URI (§20.10).
            match rest.iter().position(|b| *b == b';') {
                Some(semi) => (&rest[..semi], &rest[semi..]),
                None => (rest, &b""[..]),
            }
        };
        if !params.is_empty() && params[0] != b';' {
            return Err(bad);
        }
        let uri = Uri::parse(trim(uri_text)).map_err(|_| bad)?;
        let tag = Params::new(params).value_of(b"tag").flatten();
        Ok(NameAddr {
            display,
            uri,
            tag,
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::uri::Scheme;

    #[test]
    fn a_quoted_display_name_with_escapes_and_a_tag() {
        let na = NameAddr::parse(
            br#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ; tag = 98asjd8"#,
            "From",
        )
        .unwrap();
        assert_eq!(na.display, Some(&br#"J Rosenberg \\\""#[..]));
        assert_eq!(na.uri.host, b"example.com");
        assert_eq!(na.tag, Some(&b"98asjd8"[..]));
    }

    #[test]
    fn an_addr_spec_keeps_its_parameters_as_header_parameters() {
        let na = NameAddr::parse(b"sip:caller@example.net;tag=93942939o2", "From").unwrap();
        assert_eq!(na.uri.params, b"");
        assert_eq!(na.tag, Some(&b"93942939o2"[..]));
    }

    #[test]
    fn unknown_schemes_are_carried_and_tel_is_understood() {
        assert_eq!(
            NameAddr::parse(b"<im:user@example.com>", "To").unwrap().uri.scheme,
            Scheme::Other
        );
        assert_eq!(
            NameAddr::parse(b"<tel:+15551234567>", "To").unwrap().uri.user,
            Some(&b"+15551234567"[..])
        );
    }

    #[test]
    fn unbalanced_quotes_and_non_token_display_names_are_malformed() {
        assert!(NameAddr::parse(br#""Mr J. User <sip:j.user@example.com>"#, "To").is_err());
        assert!(NameAddr::parse(b"Bob@home <sip:bob@example.com>", "To").is_err());
    }
}
