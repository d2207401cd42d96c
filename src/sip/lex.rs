//! Small lexical helpers shared by the typed header parsers: linear white space (which
//! includes the CRLF of a folded line), quoted strings, top-level comma lists and
//! `;name=value` parameter lists (RFC 3261 §25.1).

/// Linear white space: SP, HT, and the CR LF of a folded line.
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_lws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_lws(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Where the quoted string opening at `s[0] == b'"'` ends (index of the closing quote).
pub fn quoted_end(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < s.len() {
        // Jump to the next quote or escape: a display name is mostly plain text.
        i += memchr::memchr2(b'\\', b'"', &s[i..])?;
        match s[i] {
            b'\\' => i += 2,
            _ => return Some(i),
        }
    }
    None
}

/// Split `s` at `sep` where it is outside quotes and angle brackets. Returns the first
/// piece and the rest after the separator, or `None` for the rest when there is no
/// separator. An unterminated quote makes the whole input one piece.
///
/// It jumps between the bytes that matter (the separator, `"`, `<`, and inside brackets
/// `>` and `"`) with `memchr`: this splitter runs on every list header value and every
/// parameter list, and a byte-by-byte walk of them was a tenth of a call's instructions.
pub fn split_top_level(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    let mut i = 0;
    while let Some(found) = memchr::memchr3(sep, b'"', b'<', &s[i..]) {
        i += found;
        match s[i] {
            b'"' => match quoted_end(&s[i..]) {
                Some(end) => i += end + 1,
                None => return (s, None),
            },
            b'<' => match angle_end(&s[i + 1..]) {
                Some(end) => i += end + 2,
                // Inside an unclosed bracket nothing separates.
                None => return (s, None),
            },
            _ => return (&s[..i], Some(&s[i + 1..])),
        }
    }
    (s, None)
}

/// Where the bracket opened just before `s` closes (index of the `>`), quotes inside it
/// skipped. `None` when it never closes or a quote inside is unterminated.
fn angle_end(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        i += memchr::memchr2(b'>', b'"', &s[i..])?;
        if s[i] == b'>' {
            return Some(i);
        }
        i += quoted_end(&s[i..])? + 1;
    }
}

/// Comma-separated values at top level, trimmed, empty ones skipped.
pub struct CommaValues<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> CommaValues<'a> {
    pub fn new(s: &'a [u8]) -> CommaValues<'a> {
        CommaValues { rest: Some(s) }
    }
}

impl<'a> Iterator for CommaValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let (piece, rest) = split_top_level(self.rest?, b',');
            self.rest = rest;
            let piece = trim(piece);
            if !piece.is_empty() {
                return Some(piece);
            }
        }
    }
}

/// `;name[=value]` parameters, as (name, value) with the value unquoted of nothing.
pub struct Params<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Params<'a> {
    /// `s` starts at or before the first `;`.
    pub fn new(s: &'a [u8]) -> Params<'a> {
        let rest = memchr::memchr(b';', s).map(|i| &s[i + 1..]);
        Params { rest }
    }

    /// The value of parameter `name` (case-insensitive): `Some(None)` when present
    /// without a value.
    pub fn value_of(mut self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        Iterator::find(&mut self, |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (piece, rest) = split_top_level(self.rest?, b';');
            self.rest = rest;
            let piece = trim(piece);
            if piece.is_empty() {
                continue;
            }
            return Some(match memchr::memchr(b'=', piece) {
                Some(eq) => (trim(&piece[..eq]), Some(trim(&piece[eq + 1..]))),
                None => (piece, None),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_inside_quotes_and_angles_do_not_split() {
        let values: Vec<&[u8]> = CommaValues::new(b"\"a, b\" <sip:x@y;p=1,2>, <sip:z>,, w").collect();
        assert_eq!(values, vec![&b"\"a, b\" <sip:x@y;p=1,2>"[..], b"<sip:z>", b"w"]);
    }

    #[test]
    fn quotes_inside_brackets_escapes_and_unclosed_brackets_keep_a_value_whole() {
        let values: Vec<&[u8]> = CommaValues::new(b"<sip:a;p=\"x>,y\">, \"q\\\", r\" <sip:b>, c").collect();
        assert_eq!(values, vec![&b"<sip:a;p=\"x>,y\">"[..], b"\"q\\\", r\" <sip:b>", b"c"]);
        assert_eq!(split_top_level(b"<sip:a, b", b','), (&b"<sip:a, b"[..], None));
        assert_eq!(split_top_level(b"\"open, b", b','), (&b"\"open, b"[..], None));
        assert_eq!(split_top_level(b"a>b, c", b','), (&b"a>b"[..], Some(&b" c"[..])));
    }

    #[test]
    fn params_are_found_case_insensitively_with_or_without_values() {
        let s = b"SIP/2.0/UDP h;branch=z9hG4bK1 ; RPORT ;received = 1.2.3.4";
        assert_eq!(Params::new(s).value_of(b"branch"), Some(Some(&b"z9hG4bK1"[..])));
        assert_eq!(Params::new(s).value_of(b"rport"), Some(None));
        assert_eq!(Params::new(s).value_of(b"received"), Some(Some(&b"1.2.3.4"[..])));
        assert_eq!(Params::new(s).value_of(b"ttl"), None);
    }

    #[test]
    fn folded_white_space_is_trimmed() {
        assert_eq!(trim(b" \r\n\t x y \r\n "), b"x y");
    }
}
