//! The authenticated side: reads a carrier's WWW-Authenticate / Proxy-Authenticate challenge
//! and writes the Authorization / Proxy-Authorization value that answers it.
//!
//! Owns the choice among several challenges (the strongest hash, SHA-256 over MD5, whatever
//! order the server listed them in, RFC 8760) and the answer's text. Refuses challenges we cannot answer (another scheme, `algorithm=SHA-512-256`, a qop
//! list without `auth`). Does not keep the nonce-count or invent the client nonce: the caller
//! owns both (a fresh random cnonce per answer, nc counting up per reuse of a nonce).

use super::params::{self, ParamError};
use super::{push_quoted, Algorithm, Credential, ResponseInput};

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("not a Digest challenge")]
    NotDigest,
    #[error("unreadable challenge: {reason}")]
    Unreadable { reason: &'static str },
    #[error("challenge without {param}")]
    Missing { param: &'static str },
    #[error("unsupported algorithm {algorithm:?}")]
    UnsupportedAlgorithm { algorithm: String },
    #[error("no qop we speak in {qop:?}")]
    UnsupportedQop { qop: String },
}

/// A Digest challenge we can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    /// Echoed back unchanged when present.
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered `qop=auth`; otherwise we answer in RFC 2069 form.
    pub qop_auth: bool,
    /// The server says our previous answer was right but its nonce had expired.
    pub stale: bool,
}

/// Reads one WWW-Authenticate / Proxy-Authenticate value.
pub fn parse_challenge(value: &str) -> Result<Challenge, ChallengeError> {
    let p = params::parse(value).map_err(|e| match e {
        ParamError::NotDigest => ChallengeError::NotDigest,
        ParamError::TooLong => ChallengeError::Unreadable { reason: "too long" },
        ParamError::Syntax { .. } => ChallengeError::Unreadable {
            reason: "bad parameter syntax",
        },
        ParamError::TooMany => ChallengeError::Unreadable {
            reason: "too many parameters",
        },
        ParamError::Duplicate => ChallengeError::Unreadable {
            reason: "parameter given twice",
        },
    })?;
    let realm = p.get("realm").ok_or(ChallengeError::Missing { param: "realm" })?;
    let nonce = p.get("nonce").ok_or(ChallengeError::Missing { param: "nonce" })?;
    let algorithm = match p.get("algorithm") {
        None => Algorithm::Md5,
        Some(a) => Algorithm::parse(a).ok_or_else(|| ChallengeError::UnsupportedAlgorithm {
            algorithm: a.to_owned(),
        })?,
    };
    let qop_auth = match p.get("qop") {
        None => false,
        Some(list) if list.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")) => true,
        Some(list) => return Err(ChallengeError::UnsupportedQop { qop: list.to_owned() }),
    };
    Ok(Challenge {
        realm: realm.to_owned(),
        nonce: nonce.to_owned(),
        opaque: p.get("opaque").map(str::to_owned),
        algorithm,
        qop_auth,
        stale: p.get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
    })
}

/// The challenge to answer among several (one per header line): the strongest hash we
/// speak; among equals, the first. With none we can answer, the first one's error.
pub fn preferred_challenge<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Challenge, ChallengeError> {
    let mut best: Option<Challenge> = None;
    let mut first_error = None;
    for value in values {
        match parse_challenge(value) {
            Ok(c)
                if best
                    .as_ref()
                    .is_none_or(|b| strength(c.algorithm) > strength(b.algorithm)) =>
            {
                best = Some(c)
            }
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    best.ok_or(first_error.unwrap_or(ChallengeError::NotDigest))
}

fn strength(a: Algorithm) -> u8 {
    match a {
        Algorithm::Sha256 | Algorithm::Sha256Sess => 1,
        Algorithm::Md5 | Algorithm::Md5Sess => 0,
    }
}

impl Challenge {
    /// The Authorization / Proxy-Authorization value answering this challenge for a request
    /// `method uri`. `cnonce` is a fresh random token (used with qop or `-sess`); `nc` counts
    /// the requests made with this nonce, from 1. Control characters in any value are left
    /// out so a hostile challenge cannot break the header line.
    #[must_use]
    pub fn answer(&self, method: &str, uri: &str, username: &str, password: &str, cnonce: &str, nc: u32) -> String {
        let nc_text = format!("{nc:08x}");
        let input = ResponseInput {
            algorithm: self.algorithm,
            username,
            realm: &self.realm,
            nonce: &self.nonce,
            method,
            uri,
            qop: self.qop_auth.then_some(("auth", nc_text.as_str(), cnonce)),
            cnonce: Some(cnonce),
        };
        let response = input
            .response(&Credential::Password(password.to_owned()))
            .expect("a password fits every algorithm");
        let mut v = String::with_capacity(256);
        v.push_str("Digest username=");
        push_quoted(&mut v, username);
        v.push_str(", realm=");
        push_quoted(&mut v, &self.realm);
        v.push_str(", nonce=");
        push_quoted(&mut v, &self.nonce);
        v.push_str(", uri=");
        push_quoted(&mut v, uri);
        v.push_str(", response=\"");
        v.push_str(&response);
        v.push_str("\", algorithm=");
        v.push_str(self.algorithm.as_str());
        if self.qop_auth || self.algorithm.is_sess() {
            v.push_str(", cnonce=");
            push_quoted(&mut v, cnonce);
        }
        if let Some(opaque) = &self.opaque {
            v.push_str(", opaque=");
            push_quoted(&mut v, opaque);
        }
        if self.qop_auth {
            v.push_str(", qop=auth, nc=");
            v.push_str(&nc_text);
        }
        v
    }
}
