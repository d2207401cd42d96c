//! A hasher for the B2BUA's own sequential ids (transaction and call numbers). They are
//! ours, not the network's, so they need no flood-resistant hash: a multiplicative mix is
//! enough and costs a few instructions instead of SipHash's ~20 ns. Maps keyed by anything
//! a peer chooses (Call-IDs, branches) keep the standard hasher.

use std::hash::{BuildHasherDefault, Hasher};

/// Fibonacci hashing of one u64.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// `HashMap<Id, V, IdBuildHasher>`.
pub type IdBuildHasher = BuildHasherDefault<IdHasher>;
