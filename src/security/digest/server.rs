//! The authenticating side: challenges a request (401/407) and verifies the answer.
//!
//! Owns the nonce secret, the realm and the replay table. Checks run cheapest first (size,
//! syntax, realm, the nonce's tag) so a forged answer costs one HMAC and never reaches the
//! password lookup. Does not pick the status code (401 for a UAS, 407 for a proxy) nor count
//! failures per source: `AuthFailure::counts_as_failure` tells the caller what to feed to the
//! ban list.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::nonce::{NonceError, NonceMint, NonceUse, Replay, ReplayTable};
use super::params::{self, DigestParams, ParamError};
use super::{constant_time_eq, push_quoted, Algorithm, Credential, ResponseInput};

/// Longest Authorization value read, in bytes.
pub const MAX_AUTHORIZATION_LEN: usize = params::MAX_LEN;
/// How many used nonces the replay table remembers by default (~100 bytes each).
pub const DEFAULT_REPLAY_CAPACITY: usize = 65_536;

/// Why an answer was not accepted. Every failure is answered with a fresh challenge (401 or
/// 407) carrying `stale=` [`AuthFailure::stale`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no credentials")]
    Missing,
    #[error("malformed credentials: {reason}")]
    Malformed { reason: &'static str },
    #[error("unknown user {username:?}")]
    UnknownUser { username: String },
    #[error("credentials for realm {realm:?}, not ours")]
    WrongRealm { realm: String },
    #[error("nonce not issued by us")]
    ForgedNonce,
    #[error("wrong response for user {username:?}")]
    BadResponse { username: String },
    #[error("nonce expired")]
    Stale,
    #[error("nonce-count replayed")]
    Replay,
    #[error("unsupported algorithm {algorithm:?}")]
    UnsupportedAlgorithm { algorithm: String },
}

impl AuthFailure {
    /// Whether the re-challenge says `stale=true`: the answer was right but its nonce is
    /// spent, so the client may retry without asking anyone for a password (RFC 7616 §3.3).
    pub fn stale(&self) -> bool {
        matches!(self, AuthFailure::Stale | AuthFailure::Replay)
    }

    /// Whether this is a failed guess that should count towards banning the source. Missing
    /// credentials, a stale or replayed nonce, another realm or algorithm are what honest
    /// clients send before their first challenge or after a restart; they only get a fresh
    /// challenge.
    pub fn counts_as_failure(&self) -> bool {
        matches!(
            self,
            AuthFailure::Malformed { .. }
                | AuthFailure::UnknownUser { .. }
                | AuthFailure::ForgedNonce
                | AuthFailure::BadResponse { .. }
        )
    }
}

/// An accepted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub username: String,
    /// The `uri` the response covers; the caller may compare it with the Request-URI.
    pub uri: String,
    pub algorithm: Algorithm,
}

/// Issues challenges and verifies answers for one realm. Shareable across threads (`&self`);
/// the replay table sits behind one mutex, taken only for answers whose response is right.
pub struct DigestServer {
    realm: String,
    nonce_ttl: Duration,
    mint: NonceMint,
    replay: Mutex<ReplayTable>,
}

impl DigestServer {
    /// `secret` keys the nonce tags (take it from a CSPRNG at start-up); nonces older than
    /// `nonce_ttl` are answered with a stale re-challenge.
    pub fn new(secret: [u8; 32], realm: impl Into<String>, nonce_ttl: Duration) -> Self {
        Self::with_replay_capacity(secret, realm, nonce_ttl, DEFAULT_REPLAY_CAPACITY)
    }

    /// As `new`, remembering at most `capacity` used nonces.
    pub fn with_replay_capacity(
        secret: [u8; 32],
        realm: impl Into<String>,
        nonce_ttl: Duration,
        capacity: usize,
    ) -> Self {
        DigestServer {
            realm: realm.into(),
            nonce_ttl,
            mint: NonceMint::new(&secret),
            replay: Mutex::new(ReplayTable::new(capacity)),
        }
    }

    /// Stamp nonces with the wall clock (`at` was `unix_ms`) instead of this process's own
    /// epoch: with a secret shared through the store, a nonce issued by one instance (or
    /// before a restart) verifies on any other until `nonce_ttl`. The replay table stays
    /// per process.
    #[must_use]
    pub fn with_wall_clock(mut self, at: Instant, unix_ms: u64) -> Self {
        self.mint = self.mint.anchored(at, unix_ms);
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    #[cfg(test)]
    pub(crate) fn replay_len(&self) -> usize {
        self.replay.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// WWW-Authenticate / Proxy-Authenticate values, one per algorithm, SHA-256 first (RFC
    /// 8760's UAS behaviour: in order of preference), sharing one fresh nonce.
    #[must_use]
    pub fn challenge(&self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = self.mint.issue(now, rand::random());
        [Algorithm::Sha256, Algorithm::Md5]
            .into_iter()
            .map(|algorithm| {
                let mut v = String::with_capacity(160);
                v.push_str("Digest realm=");
                push_quoted(&mut v, &self.realm);
                v.push_str(", nonce=\"");
                v.push_str(&nonce);
                v.push_str("\", algorithm=");
                v.push_str(algorithm.as_str());
                v.push_str(", qop=\"auth\"");
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Verifies an Authorization / Proxy-Authorization value for a request with `method`.
    /// Pass `""` when the header is absent. `password_for` is asked only once the nonce is
    /// known to be ours.
    pub fn verify(
        &self,
        now: Instant,
        method: &str,
        authorization: &str,
        password_for: impl Fn(&str) -> Option<Credential>,
    ) -> Result<Verified, AuthFailure> {
        if authorization.trim().is_empty() {
            return Err(AuthFailure::Missing);
        }
        let params = params::parse(authorization).map_err(malformed)?;
        let answer = Answer::read(&params)?;
        if answer.realm != self.realm {
            return Err(AuthFailure::WrongRealm {
                realm: answer.realm.to_owned(),
            });
        }
        let nonce = self.mint.open(answer.nonce).map_err(|e| match e {
            NonceError::Malformed | NonceError::Forged => AuthFailure::ForgedNonce,
        })?;
        let credential = password_for(answer.username).ok_or_else(|| AuthFailure::UnknownUser {
            username: answer.username.to_owned(),
        })?;
        // An empty stored secret (a password never set, or lost) matches nothing, not even
        // an answer computed from an empty password.
        if credential.is_empty() {
            return Err(AuthFailure::BadResponse {
                username: answer.username.to_owned(),
            });
        }
        let input = answer.input(method);
        let expected = input
            .response(&credential)
            .ok_or_else(|| AuthFailure::UnsupportedAlgorithm {
                algorithm: answer.algorithm.as_str().to_owned(),
            })?;
        if !constant_time_eq(expected.as_bytes(), answer.response.to_ascii_lowercase().as_bytes()) {
            return Err(AuthFailure::BadResponse {
                username: answer.username.to_owned(),
            });
        }
        // Expiry is judged after the response so that stale=true promises a right password.
        let now_ms = self.mint.millis(now);
        let ttl_ms = u64::try_from(self.nonce_ttl.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(nonce.issued_ms) > ttl_ms {
            return Err(AuthFailure::Stale);
        }
        let used = answer.nc.map_or(NonceUse::Once, NonceUse::Count);
        let verdict = self
            .replay
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(&nonce, used, now_ms, ttl_ms);
        match verdict {
            Replay::Fresh => Ok(Verified {
                username: answer.username.to_owned(),
                uri: answer.uri.to_owned(),
                algorithm: answer.algorithm,
            }),
            Replay::Replayed => Err(AuthFailure::Replay),
            Replay::Forgotten => Err(AuthFailure::Stale),
        }
    }
}

fn malformed(e: ParamError) -> AuthFailure {
    let reason = match e {
        ParamError::TooLong => "too long",
        ParamError::NotDigest => "not the Digest scheme",
        ParamError::Syntax { .. } => "bad parameter syntax",
        ParamError::TooMany => "too many parameters",
        ParamError::Duplicate => "parameter given twice",
    };
    AuthFailure::Malformed { reason }
}

/// The fields of a `digest-response` (RFC 3261 §25.1), checked for presence and form.
struct Answer<'a> {
    username: &'a str,
    realm: &'a str,
    nonce: &'a str,
    uri: &'a str,
    response: &'a str,
    algorithm: Algorithm,
    /// With `qop=auth`: the nonce-count.
    nc: Option<u32>,
    /// With `qop=auth`: qop and nc as written, for the hash.
    qop_text: &'a str,
    nc_text: &'a str,
    cnonce: Option<&'a str>,
}

impl<'a> Answer<'a> {
    fn read(p: &'a DigestParams) -> Result<Self, AuthFailure> {
        let required = |name, reason| p.get(name).ok_or(AuthFailure::Malformed { reason });
        let username = required("username", "no username")?;
        let realm = required("realm", "no realm")?;
        let nonce = required("nonce", "no nonce")?;
        let uri = required("uri", "no uri")?;
        let response = required("response", "no response")?;
        let algorithm = match p.get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or_else(|| AuthFailure::UnsupportedAlgorithm {
                algorithm: a.to_owned(),
            })?,
        };
        let cnonce = p.get("cnonce");
        let qop_text = p.get("qop").unwrap_or("");
        let (nc, nc_text) = match p.get("qop") {
            None => (None, ""),
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let text = required("nc", "qop without nc")?;
                if cnonce.is_none() {
                    return Err(AuthFailure::Malformed {
                        reason: "qop without cnonce",
                    });
                }
                (Some(parse_nc(text)?), text)
            }
            Some(_) => {
                return Err(AuthFailure::Malformed {
                    reason: "qop other than auth",
                })
            }
        };
        if algorithm.is_sess() && cnonce.is_none() {
            return Err(AuthFailure::Malformed {
                reason: "-sess without cnonce",
            });
        }
        Ok(Answer {
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm,
            nc,
            qop_text,
            nc_text,
            cnonce,
        })
    }

    fn input(&self, method: &'a str) -> ResponseInput<'a> {
        ResponseInput {
            algorithm: self.algorithm,
            username: self.username,
            realm: self.realm,
            nonce: self.nonce,
            method,
            uri: self.uri,
            qop: self
                .nc
                .map(|_| (self.qop_text, self.nc_text, self.cnonce.unwrap_or(""))),
            cnonce: self.cnonce,
        }
    }
}

/// RFC 7616 §3.4: `nc` is exactly 8 hex digits, and counts from 1.
fn parse_nc(text: &str) -> Result<u32, AuthFailure> {
    let bad = AuthFailure::Malformed {
        reason: "nc is not 8 hex digits from 00000001",
    };
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad);
    }
    match u32::from_str_radix(text, 16) {
        Ok(0) | Err(_) => Err(bad),
        Ok(n) => Ok(n),
    }
}
