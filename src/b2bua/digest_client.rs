//! The client side of HTTP digest authentication as SIP uses it (RFC 3261 §22.4, RFC 2617,
//! RFC 7616, RFC 8760): read a carrier's `WWW-Authenticate` / `Proxy-Authenticate`
//! challenge, compute the answer, write the `Authorization` / `Proxy-Authorization` value.
//!
//! `response = H(H(A1):nonce:nc:cnonce:qop:H(A2))` with qop, `H(H(A1):nonce:H(A2))` without
//! (RFC 2617 §3.2.2.1); `A1 = user:realm:password` (`-sess`: `H(A1):nonce:cnonce`),
//! `A2 = method:uri` (`auth-int`: `:H(body)` appended). Algorithms MD5 and SHA-256 and
//! their `-sess` forms; qop `auth`, `auth-int` or none.
//!
//! It refuses to decide whether to answer (that is the B2BUA's once-per-challenge rule) and
//! keeps no state: the caller supplies the cnonce and the nonce count.

use md5::Md5;
use sha2::{Digest, Sha256};

/// A digest algorithm (RFC 7616 §3.3, RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(token: &str) -> Option<Algorithm> {
        [
            ("MD5", Algorithm::Md5),
            ("MD5-sess", Algorithm::Md5Sess),
            ("SHA-256", Algorithm::Sha256),
            ("SHA-256-sess", Algorithm::Sha256Sess),
        ]
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(token))
        .map(|(_, a)| a)
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex::encode(Md5::digest(data)),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hex::encode(Sha256::digest(data)),
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

/// Quality of protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    Auth,
    AuthInt,
}

impl Qop {
    fn name(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

/// One digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The qop we answer with (`auth` preferred when offered), or none (RFC 2069 style).
    pub qop: Option<Qop>,
    /// RFC 2617 §3.2.1: the previous nonce expired; the credentials were fine.
    pub stale: bool,
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("the challenge is not a Digest challenge")]
    NotDigest,
    #[error("the challenge has no {0}")]
    Missing(&'static str),
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    #[error("unsupported qop (neither auth nor auth-int offered)")]
    UnsupportedQop,
    #[error("malformed challenge")]
    Malformed,
    #[error("no challenge at all")]
    NoChallenge,
}

/// What the answer is computed from.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    /// The request-URI of the request being authorised (RFC 3261 §22.4).
    pub uri: &'a str,
    pub cnonce: &'a str,
    /// The nonce count (1 for a new nonce).
    pub nc: u32,
    /// The body, for `auth-int`.
    pub body: &'a [u8],
}

/// The first challenge among `values` we can answer (RFC 8760 §2.4: the server lists its
/// preference first), or why none can be answered (the first one's fault).
pub fn choose<'v>(values: impl IntoIterator<Item = &'v [u8]>) -> Result<Challenge, DigestError> {
    let mut first_error = None;
    for value in values {
        match parse_challenge(value) {
            Ok(challenge) => return Ok(challenge),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(DigestError::NoChallenge))
}

/// Parse one `Digest realm="..", nonce="..", ...` value.
pub fn parse_challenge(value: &[u8]) -> Result<Challenge, DigestError> {
    let params = params(value)?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let algorithm = match get("algorithm") {
        Some(a) => Algorithm::parse(&a).ok_or(DigestError::UnsupportedAlgorithm)?,
        None => Algorithm::Md5,
    };
    let qop = match get("qop") {
        None => None,
        Some(offered) => {
            let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
            if offered.iter().any(|q| q.eq_ignore_ascii_case("auth")) {
                Some(Qop::Auth)
            } else if offered.iter().any(|q| q.eq_ignore_ascii_case("auth-int")) {
                Some(Qop::AuthInt)
            } else {
                return Err(DigestError::UnsupportedQop);
            }
        }
    };
    Ok(Challenge {
        realm: get("realm").ok_or(DigestError::Missing("realm"))?,
        nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
        opaque: get("opaque"),
        algorithm,
        qop,
        stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
    })
}

/// The `response` value (lowercase hex).
pub fn response(challenge: &Challenge, answer: &Answer<'_>) -> String {
    let h = |data: String| challenge.algorithm.hash(data.as_bytes());
    let mut ha1 = h(format!("{}:{}:{}", answer.username, challenge.realm, answer.password));
    if challenge.algorithm.is_sess() {
        ha1 = h(format!("{ha1}:{}:{}", challenge.nonce, answer.cnonce));
    }
    let ha2 = match challenge.qop {
        Some(Qop::AuthInt) => h(format!(
            "{}:{}:{}",
            answer.method,
            answer.uri,
            challenge.algorithm.hash(answer.body)
        )),
        _ => h(format!("{}:{}", answer.method, answer.uri)),
    };
    match challenge.qop {
        Some(qop) => h(format!(
            "{ha1}:{}:{:08x}:{}:{}:{ha2}",
            challenge.nonce,
            answer.nc,
            answer.cnonce,
            qop.name()
        )),
        None => h(format!("{ha1}:{}:{ha2}", challenge.nonce)),
    }
}

/// The `Authorization` / `Proxy-Authorization` header value answering `challenge`.
pub fn authorization(challenge: &Challenge, answer: &Answer<'_>) -> String {
    let mut value = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
        quote(answer.username),
        quote(&challenge.realm),
        quote(&challenge.nonce),
        quote(answer.uri),
        response(challenge, answer),
        challenge.algorithm.name()
    );
    if let Some(qop) = challenge.qop {
        value.push_str(&format!(
            ", qop={}, nc={:08x}, cnonce=\"{}\"",
            qop.name(),
            answer.nc,
            quote(answer.cnonce)
        ));
    }
    if let Some(opaque) = &challenge.opaque {
        value.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
    }
    value
}

/// The parameters of a `Digest ...` value (a challenge or an answer), names as written.
pub fn params(value: &[u8]) -> Result<Vec<(String, String)>, DigestError> {
    let text = std::str::from_utf8(value).map_err(|_| DigestError::Malformed)?.trim();
    let (scheme, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    parse_params(rest)
}

/// `name=value` pairs separated by commas; values are tokens or quoted strings with `\`
/// escapes (RFC 3261 §25.1).
fn parse_params(text: &str) -> Result<Vec<(String, String)>, DigestError> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(params);
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') || name.is_empty() {
            return Err(DigestError::Malformed);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let value = if chars.next_if_eq(&'"').is_some() {
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.push(chars.next().ok_or(DigestError::Malformed)?),
                    Some(c) => value.push(c),
                    None => return Err(DigestError::Malformed),
                }
            }
            value
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',' && !c.is_whitespace())).collect()
        };
        params.push((name, value));
    }
}

/// Escape `"` and `\` for a quoted string.
fn quote(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['"', '\\']) {
        s.replace('\\', "\\\\").replace('"', "\\\"").into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mufasa<'a>(cnonce: &'a str, uri: &'a str, password: &'a str) -> Answer<'a> {
        Answer {
            username: "Mufasa",
            password,
            method: "GET",
            uri,
            cnonce,
            nc: 1,
            body: b"",
        }
    }

    #[test]
    fn the_rfc_2617_example_gives_its_published_response() {
        let challenge = parse_challenge(
            b"Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
              nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(challenge.qop, Some(Qop::Auth), "auth preferred");
        let answer = mufasa("0a4f113b", "/dir/index.html", "Circle Of Life");
        assert_eq!(response(&challenge, &answer), "6629fae49393a05397450978507c4ef1");
        let header = authorization(&challenge, &answer);
        assert!(header.contains("nc=00000001"), "{header}");
        assert!(
            header.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{header}"
        );
    }

    #[test]
    fn the_rfc_7616_examples_give_their_published_responses_for_md5_and_sha256() {
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let answer = mufasa(cnonce, "/dir/index.html", "Circle of Life");
        for (algorithm, expected) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let value = format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={algorithm}, \
                 nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            );
            let challenge = parse_challenge(value.as_bytes()).unwrap();
            assert_eq!(response(&challenge, &answer), expected, "{algorithm}");
        }
    }

    #[test]
    fn without_qop_the_rfc_2069_form_is_used() {
        let challenge = parse_challenge(b"Digest realm=\"r\", nonce=\"n\"").unwrap();
        assert_eq!((challenge.algorithm, challenge.qop), (Algorithm::Md5, None));
        let answer = mufasa("ignored", "sip:+12125551234@carrier", "pw");
        let ha1 = hex::encode(Md5::digest(b"Mufasa:r:pw"));
        let ha2 = hex::encode(Md5::digest(b"GET:sip:+12125551234@carrier"));
        let expected = hex::encode(Md5::digest(format!("{ha1}:n:{ha2}").as_bytes()));
        assert_eq!(response(&challenge, &answer), expected);
        let header = authorization(&challenge, &answer);
        assert!(!header.contains("qop") && !header.contains("cnonce"), "{header}");
    }

    #[test]
    fn the_first_answerable_challenge_is_chosen_and_unanswerable_ones_say_why() {
        let values: [&[u8]; 2] = [
            b"Digest realm=\"r\", nonce=\"a\", algorithm=SHA-512-256",
            b"Digest realm=\"r\", nonce=\"b\", algorithm=SHA-256, stale=TRUE",
        ];
        let chosen = choose(values).unwrap();
        assert_eq!((chosen.nonce.as_str(), chosen.algorithm), ("b", Algorithm::Sha256));
        assert!(chosen.stale);
        assert_eq!(
            choose([&b"Digest realm=\"r\", nonce=\"a\", algorithm=SHA-512-256"[..]]),
            Err(DigestError::UnsupportedAlgorithm)
        );
        assert_eq!(choose([&b"Basic realm=\"r\""[..]]), Err(DigestError::NotDigest));
        assert_eq!(choose([&b"Digest realm=\"r\""[..]]), Err(DigestError::Missing("nonce")));
        assert_eq!(
            choose([&b"Digest realm=\"r\", nonce=\"n\", qop=\"auth-conf\""[..]]),
            Err(DigestError::UnsupportedQop)
        );
        assert_eq!(choose(std::iter::empty()), Err(DigestError::NoChallenge));
        assert_eq!(
            choose([&b"Digest realm=\"unterminated"[..]]),
            Err(DigestError::Malformed)
        );
    }

    #[test]
    fn quoted_values_keep_escaped_quotes_and_commas() {
        let c = parse_challenge(br#"Digest realm="a \"b\", c", nonce=n1"#).unwrap();
        assert_eq!((c.realm.as_str(), c.nonce.as_str()), ("a \"b\", c", "n1"));
        let header = authorization(&c, &mufasa("x", "sip:a@b", "p"));
        assert!(header.contains(r#"realm="a \"b\", c""#), "{header}");
    }

    #[test]
    fn sess_and_auth_int_variants_hash_what_rfc_2617_says() {
        let c = parse_challenge(b"Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess, qop=\"auth-int\"").unwrap();
        let mut answer = mufasa("c", "sip:x@y", "pw");
        answer.method = "INVITE";
        answer.body = b"v=0\r\n";
        let md5 = |s: &[u8]| hex::encode(Md5::digest(s));
        let ha1 = md5(format!("{}:n:c", md5(b"Mufasa:r:pw")).as_bytes());
        let ha2 = md5(format!("INVITE:sip:x@y:{}", md5(b"v=0\r\n")).as_bytes());
        let expected = md5(format!("{ha1}:n:00000001:c:auth-int:{ha2}").as_bytes());
        assert_eq!(response(&c, &answer), expected);
    }
}
