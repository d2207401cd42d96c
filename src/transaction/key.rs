//! Transaction identity (RFC 3261 §17.1.3, §17.2.3): the branch, plus the CSeq method for
//! clients, plus the sent-by and method for servers. ACK matches its INVITE's server
//! transaction; CANCEL has its own.

use bytes::Bytes;
use rand::Rng;

use crate::sip::Method;

/// The RFC 3261 magic cookie every branch we generate starts with.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Matches responses to a client transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub branch: Bytes,
    pub method: Method,
}

impl ClientKey {
    pub fn new(branch: Bytes, method: Method) -> ClientKey {
        ClientKey { branch, method }
    }
}

/// Matches requests to a server transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerKey {
    pub branch: Bytes,
    pub sent_by: Bytes,
    pub method: Method,
}

impl ServerKey {
    /// An ACK is keyed as the INVITE it acknowledges (§17.2.3).
    pub fn new(branch: &[u8], sent_by: &[u8], method: &Method) -> ServerKey {
        let method = if *method == Method::Ack {
            Method::Invite
        } else {
            method.clone()
        };
        ServerKey {
            branch: Bytes::copy_from_slice(branch),
            sent_by: Bytes::copy_from_slice(sent_by),
            method,
        }
    }
}

/// A fresh branch: the magic cookie and 64 random bits.
pub fn new_branch(rng: &mut impl Rng) -> Bytes {
    // By hand, not `format!`: one exact allocation, no formatting machinery per request.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = rng.random::<u64>();
    let mut branch = Vec::with_capacity(MAGIC_COOKIE.len() + 16);
    branch.extend_from_slice(MAGIC_COOKIE.as_bytes());
    branch.extend((0..16).rev().map(|i| HEX[(n >> (i * 4)) as usize & 0xf]));
    Bytes::from(branch)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_new_branch_is_the_magic_cookie_and_the_draw_in_16_hex_digits() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = rand::rngs::StdRng::seed_from_u64(7).random::<u64>();
        assert_eq!(new_branch(&mut rng), Bytes::from(format!("{MAGIC_COOKIE}{n:016x}")));
    }
}
