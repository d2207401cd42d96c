//! HTTP Digest authentication as SIP uses it (RFC 3261 §22.4, RFC 2617 §3, RFC 7616 for
//! SHA-256, RFC 8760 for SIP's algorithm order), both sides.
//!
//! | file        | owns                                                                   |
//! |-------------|------------------------------------------------------------------------|
//! | `mod.rs`    | the algorithms and the response arithmetic (H, KD, HA1, HA2)           |
//! | `params.rs` | reading a `Digest k=v, k="v"` header value, bounded, never panicking   |
//! | `nonce.rs`  | self-validating nonces and the (nonce, nc) replay table                |
//! | `server.rs` | `DigestServer`: challenges and verification of a carrier's or UA's answer |
//! | `client.rs` | `Challenge`: answering a carrier's 401/407 on our outbound requests    |
//!
//! Supports MD5, MD5-sess, SHA-256 and SHA-256-sess with `qop=auth` or no qop (RFC 2069).
//! Refuses `qop=auth-int` (SIP bodies change hop by hop; nobody deploys it), SHA-512-256 and
//! `userhash`. Reads no clock and opens nothing: the caller passes `now` and the password
//! lookup.

mod client;
mod nonce;
mod params;
mod server;

pub use client::{parse_challenge, preferred_challenge, Challenge, ChallengeError};
pub use server::{AuthFailure, DigestServer, Verified, DEFAULT_REPLAY_CAPACITY, MAX_AUTHORIZATION_LEN};

use md5::Md5;
use sha2::{Digest, Sha256};

/// A digest algorithm (RFC 7616 §3.3 `algorithm`); `-sess` variants hash the client nonce
/// into HA1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    /// The token as written in a header.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Reads the token, case-insensitively; `None` for an algorithm we do not speak.
    pub fn parse(token: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Length of H(..) in hex digits.
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 32,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 64,
        }
    }

    /// H(p1:p2:..): the parts joined by colons, hashed, in lower-case hex.
    fn h(self, parts: &[&[u8]]) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hash_joined::<Md5>(parts),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hash_joined::<Sha256>(parts),
        }
    }
}

/// What the password lookup hands back for a username.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The plain password.
    Password(String),
    /// A stored H(username:realm:password) in hex, as SIP registrars keep it. Its length
    /// says its hash (32 digits MD5, 64 SHA-256); an answer in another algorithm is refused
    /// as `UnsupportedAlgorithm`.
    Ha1(String),
}

impl Credential {
    /// No secret at all: such a credential matches no answer.
    pub fn is_empty(&self) -> bool {
        match self {
            Credential::Password(p) | Credential::Ha1(p) => p.is_empty(),
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password(..)"),
            Credential::Ha1(_) => f.write_str("Ha1(..)"),
        }
    }
}

impl From<String> for Credential {
    fn from(password: String) -> Self {
        Credential::Password(password)
    }
}

impl From<&str> for Credential {
    fn from(password: &str) -> Self {
        Credential::Password(password.to_owned())
    }
}

/// The per-request values a response hashes, besides the credential.
struct ResponseInput<'a> {
    algorithm: Algorithm,
    username: &'a str,
    realm: &'a str,
    nonce: &'a str,
    method: &'a str,
    uri: &'a str,
    /// `(qop, nc, cnonce)` when a qop is used (RFC 2617 §3.2.2.1).
    qop: Option<(&'a str, &'a str, &'a str)>,
    /// The client nonce, needed by `-sess` HA1 even without a qop.
    cnonce: Option<&'a str>,
}

impl ResponseInput<'_> {
    /// HA1, or `None` when a stored HA1 is of another hash than the algorithm.
    fn ha1(&self, credential: &Credential) -> Option<String> {
        let a = self.algorithm;
        let base = match credential {
            Credential::Password(p) => a.h(&[self.username.as_bytes(), self.realm.as_bytes(), p.as_bytes()]),
            Credential::Ha1(hex) if hex.len() == a.hex_len() => hex.to_ascii_lowercase(),
            Credential::Ha1(_) => return None,
        };
        if !a.is_sess() {
            return Some(base);
        }
        // RFC 7616 §3.4.2: HA1 = H(H(user:realm:pass):nonce:cnonce).
        let cnonce = self.cnonce.unwrap_or("");
        Some(a.h(&[base.as_bytes(), self.nonce.as_bytes(), cnonce.as_bytes()]))
    }

    /// The `response` value, or `None` as for `ha1`.
    fn response(&self, credential: &Credential) -> Option<String> {
        let a = self.algorithm;
        let ha1 = self.ha1(credential)?;
        let ha2 = a.h(&[self.method.as_bytes(), self.uri.as_bytes()]);
        Some(match self.qop {
            Some((qop, nc, cnonce)) => a.h(&[
                ha1.as_bytes(),
                self.nonce.as_bytes(),
                nc.as_bytes(),
                cnonce.as_bytes(),
                qop.as_bytes(),
                ha2.as_bytes(),
            ]),
            None => a.h(&[ha1.as_bytes(), self.nonce.as_bytes(), ha2.as_bytes()]),
        })
    }
}

fn hash_joined<D: Digest>(parts: &[&[u8]]) -> String {
    let mut d = D::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            d.update(b":");
        }
        d.update(part);
    }
    hex::encode(d.finalize())
}

/// Writes `s` as a quoted-string (RFC 3261 §25.1): `"` and `\` escaped, control characters
/// left out so a value taken from a peer can never end the header line.
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Equality that takes as long for every position of the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
