//! Reads the value of an Authorization, Proxy-Authorization, WWW-Authenticate or
//! Proxy-Authenticate header with the Digest scheme (RFC 3261 §25.1 `digest-response`,
//! `challenge`): `Digest name=value, name="quoted \"value\"", ...`.
//!
//! Names are case-insensitive and returned lower-cased; parameters come in any order; empty
//! list elements are skipped; a quoted value may hold commas and `\`-escapes. Unquoted values
//! are read up to the next comma or space, so a peer that forgets quotes around a nonce is
//! still understood. Refuses, without panicking and before allocating much: input longer than
//! `MAX_LEN`, more than `MAX_PARAMS` parameters, a name given twice, control characters, an
//! unterminated quote. A second scheme after the parameters (`Digest .., Basic ..`) ends the
//! list.

/// Longest header value read, in bytes: a real Digest answer is under 1 KiB.
pub(crate) const MAX_LEN: usize = 4096;
/// Most parameters read: RFC 7616 defines fewer than 15.
pub(crate) const MAX_PARAMS: usize = 24;

/// Why a header value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParamError {
    #[error("longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("not the Digest scheme")]
    NotDigest,
    #[error("malformed parameter list at byte {at}")]
    Syntax { at: usize },
    #[error("more than {MAX_PARAMS} parameters")]
    TooMany,
    #[error("parameter given twice")]
    Duplicate,
}

/// The parameters of one Digest credential or challenge.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct DigestParams {
    /// (lower-cased name, unescaped value), in the order given.
    pairs: Vec<(String, String)>,
}

impl DigestParams {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads `value`; see the module doc for what is accepted.
pub(crate) fn parse(value: &str) -> Result<DigestParams, ParamError> {
    if value.len() > MAX_LEN {
        return Err(ParamError::TooLong);
    }
    let mut c = Cursor {
        s: value.as_bytes(),
        i: 0,
    };
    c.skip_lws();
    if !c.token().eq_ignore_ascii_case(b"digest") {
        return Err(ParamError::NotDigest);
    }
    let mut params = DigestParams::default();
    if c.peek().is_some_and(|b| !is_lws(b)) {
        return Err(c.syntax());
    }
    loop {
        while c.peek().is_some_and(|b| is_lws(b) || b == b',') {
            c.i += 1;
        }
        if c.peek().is_none() {
            return Ok(params);
        }
        let name = c.token();
        if name.is_empty() {
            return Err(c.syntax());
        }
        c.skip_lws();
        if c.peek() != Some(b'=') {
            // A new auth-scheme starts here (`Basic realm=..`), or this is junk.
            return if params.pairs.is_empty() {
                Err(c.syntax())
            } else {
                Ok(params)
            };
        }
        c.i += 1;
        c.skip_lws();
        let value = if c.peek() == Some(b'"') { c.quoted()? } else { c.bare()? };
        params.push(name, value)?;
        c.skip_lws();
        match c.peek() {
            None => return Ok(params),
            Some(b',') => c.i += 1,
            Some(_) => return Err(c.syntax()),
        }
    }
}

impl DigestParams {
    fn push(&mut self, name: &[u8], value: String) -> Result<(), ParamError> {
        if self.pairs.len() >= MAX_PARAMS {
            return Err(ParamError::TooMany);
        }
        // A token is ASCII, so this is lossless.
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if self.get(&name).is_some() {
            return Err(ParamError::Duplicate);
        }
        self.pairs.push((name, value));
        Ok(())
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn syntax(&self) -> ParamError {
        ParamError::Syntax { at: self.i }
    }

    fn skip_lws(&mut self) {
        while self.peek().is_some_and(is_lws) {
            self.i += 1;
        }
    }

    /// A run of RFC 3261 token characters, possibly empty.
    fn token(&mut self) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(is_token_char) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// An unquoted value: everything up to white space or a comma, at least one byte.
    fn bare(&mut self) -> Result<String, ParamError> {
        let start = self.i;
        while let Some(b) = self.peek() {
            if is_lws(b) || b == b',' {
                break;
            }
            if b == b'"' || b.is_ascii_control() {
                return Err(self.syntax());
            }
            self.i += 1;
        }
        if self.i == start {
            return Err(self.syntax());
        }
        String::from_utf8(self.s[start..self.i].to_vec()).map_err(|_| self.syntax())
    }

    /// A quoted-string starting at the opening quote, unescaped.
    fn quoted(&mut self) -> Result<String, ParamError> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.syntax());
            };
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => match self.peek() {
                    Some(e) if e != b'\r' && e != b'\n' => {
                        out.push(e);
                        self.i += 1;
                    }
                    _ => return Err(self.syntax()),
                },
                b'\t' => out.push(b),
                b if b.is_ascii_control() => return Err(ParamError::Syntax { at: self.i - 1 }),
                b => out.push(b),
            }
        }
        // Only ASCII backslashes were removed from valid UTF-8, so this holds; still no panic.
        String::from_utf8(out).map_err(|_| self.syntax())
    }
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 3261 §25.1 `token`.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_and_bare_values_in_any_order_and_case() {
        let p = parse(
            "digest  URI=\"sip:a@b;x=1,2\",nc=00000001 ,, Username = \"Mu\\\"fa\\\\sa\", qop=auth,\r\n realm=\"r\"",
        )
        .unwrap();
        assert_eq!(p.get("uri"), Some("sip:a@b;x=1,2"));
        assert_eq!(p.get("username"), Some("Mu\"fa\\sa"));
        assert_eq!(p.get("nc"), Some("00000001"));
        assert_eq!(p.get("qop"), Some("auth"));
        assert_eq!(p.get("realm"), Some("r"));
        assert_eq!(p.get("nonce"), None);
    }

    #[test]
    fn an_unquoted_nonce_keeps_its_base64_characters() {
        let p = parse("Digest nonce=ab/c+d==, realm=x").unwrap();
        assert_eq!(p.get("nonce"), Some("ab/c+d=="));
    }

    #[test]
    fn a_following_scheme_ends_the_list() {
        let p = parse("Digest realm=\"a\", nonce=\"n\", Basic realm=\"b\"").unwrap();
        assert_eq!(p.get("realm"), Some("a"));
        assert_eq!(p.get("nonce"), Some("n"));
    }

    #[test]
    fn refusals() {
        let long = format!("Digest realm=\"{}\"", "x".repeat(MAX_LEN));
        let many = format!(
            "Digest {}",
            (0..30).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join(",")
        );
        let cases: &[(&str, ParamError)] = &[
            ("Basic realm=\"x\"", ParamError::NotDigest),
            ("", ParamError::NotDigest),
            ("Digestrealm=x", ParamError::NotDigest),
            ("Digest,realm=x", ParamError::Syntax { at: 6 }),
            ("Digest realm=\"x", ParamError::Syntax { at: 15 }),
            ("Digest realm=\"x\\", ParamError::Syntax { at: 16 }),
            ("Digest realm=", ParamError::Syntax { at: 13 }),
            ("Digest realm=\"a\"b", ParamError::Syntax { at: 16 }),
            ("Digest realm=\"a\rb\"", ParamError::Syntax { at: 15 }),
            ("Digest realm=a\0b", ParamError::Syntax { at: 14 }),
            ("Digest =x", ParamError::Syntax { at: 7 }),
            ("Digest realm", ParamError::Syntax { at: 12 }),
            ("Digest realm=a, REALM=b", ParamError::Duplicate),
            (&long, ParamError::TooLong),
            (&many, ParamError::TooMany),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), Err(*expected), "{input:?}");
        }
    }

    #[test]
    fn non_ascii_inside_quotes_survives_escaping() {
        let p = parse("Digest username=\"J\\ürgen\"").unwrap();
        assert_eq!(p.get("username"), Some("Jürgen"));
    }
}
