//! CIDR blocks (RFC 4632 for IPv4, RFC 4291 §2.3 for IPv6): parsing and containment.
//!
//! Owns the text form `addr/len` and the bare-address shorthand (`/32` or `/128`). An IPv6
//! block inside the IPv4-mapped range `::ffff:0:0/96` is stored as the IPv4 block it maps, so
//! `::ffff:10.0.0.0/104` and `10.0.0.0/8` are the same block. Refuses a block with host bits
//! set (`10.0.0.1/8`): in an allow-list that typo would silently open a whole /8.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why a CIDR entry was refused; each variant names the entry as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{entry:?}: not an IP address")]
    BadAddress { entry: String },
    #[error("{entry:?}: prefix length is not a number")]
    BadLength { entry: String },
    #[error("{entry:?}: prefix length {len} exceeds {max}")]
    LengthTooLong { entry: String, len: u32, max: u8 },
    #[error("{entry:?}: host bits set after /{len} (did you mean {network}/{len}?)")]
    HostBitsSet { entry: String, len: u8, network: IpAddr },
}

/// One IPv4 or IPv6 network: an address with its host bits clear, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cidr {
    V4 { network: u32, len: u8 },
    V6 { network: u128, len: u8 },
}

impl Cidr {
    /// Whether `ip` lies in this block. An IPv4-mapped IPv6 address is compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, canonical(ip)) {
            (Cidr::V4 { network, len }, IpAddr::V4(a)) => u32::from(a) & mask_v4(len) == network,
            (Cidr::V6 { network, len }, IpAddr::V6(a)) => u128::from(a) & mask_v6(len) == network,
            _ => false,
        }
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        match *self {
            Cidr::V4 { len, .. } | Cidr::V6 { len, .. } => len,
        }
    }

    /// The first and last address of the block, as integers of its family.
    pub(crate) fn range_v4(network: u32, len: u8) -> (u32, u32) {
        (network, network | !mask_v4(len))
    }

    pub(crate) fn range_v6(network: u128, len: u8) -> (u128, u128) {
        (network, network | !mask_v6(len))
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(entry: &str) -> Result<Self, CidrError> {
        let text = entry.trim();
        let (addr_text, len_text) = match text.split_once('/') {
            Some((a, l)) => (a.trim(), Some(l.trim())),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| CidrError::BadAddress {
            entry: entry.to_owned(),
        })?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len_text {
            None => max,
            Some(l) => parse_len(l, entry, max)?,
        };
        let cidr = match addr {
            IpAddr::V4(a) => Cidr::V4 {
                network: u32::from(a) & mask_v4(len),
                len,
            },
            IpAddr::V6(a) => v6_block(a, len),
        };
        if cidr.network_addr() != canonical(addr) {
            return Err(CidrError::HostBitsSet {
                entry: entry.to_owned(),
                len,
                network: cidr.network_addr(),
            });
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network_addr(), self.prefix_len())
    }
}

impl Cidr {
    fn network_addr(&self) -> IpAddr {
        match *self {
            Cidr::V4 { network, .. } => IpAddr::V4(Ipv4Addr::from(network)),
            Cidr::V6 { network, .. } => IpAddr::V6(Ipv6Addr::from(network)),
        }
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) turned into IPv4: a dual-stack
/// socket reports IPv4 peers that way.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// The address a per-source rule (rate limit, ban) counts: IPv4 as is (mapped addresses
/// unwrapped), IPv6 by its /64, which RFC 4291 makes one subnet and one subscriber usually
/// holds whole; counting single IPv6 addresses would let one host rotate through 2^64 keys.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(64))),
        v4 => v4,
    }
}

fn parse_len(text: &str, entry: &str, max: u8) -> Result<u8, CidrError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CidrError::BadLength {
            entry: entry.to_owned(),
        });
    }
    let len: u32 = text.parse().map_err(|_| CidrError::LengthTooLong {
        entry: entry.to_owned(),
        len: u32::MAX,
        max,
    })?;
    if len > u32::from(max) {
        return Err(CidrError::LengthTooLong {
            entry: entry.to_owned(),
            len,
            max,
        });
    }
    Ok(len as u8)
}

/// An IPv6 block; one inside `::ffff:0:0/96` becomes the IPv4 block it maps.
fn v6_block(a: Ipv6Addr, len: u8) -> Cidr {
    if len >= 96 {
        if let Some(v4) = a.to_ipv4_mapped() {
            let len = len - 96;
            return Cidr::V4 {
                network: u32::from(v4) & mask_v4(len),
                len,
            };
        }
    }
    Cidr::V6 {
        network: u128::from(a) & mask_v6(len),
        len,
    }
}

fn mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_bare_address_is_a_single_host_block() {
        assert_eq!(
            "192.0.2.7".parse::<Cidr>().unwrap(),
            Cidr::V4 {
                network: 0xC000_0207,
                len: 32
            }
        );
        assert_eq!("2001:db8::1".parse::<Cidr>().unwrap().prefix_len(), 128);
    }

    #[test]
    fn blocks_contain_their_addresses_and_no_others() {
        let cases = [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.0", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "2001:db8::1", false),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::/0", "::1", true),
            ("192.0.2.0/24", "::ffff:192.0.2.200", true),
            ("::ffff:192.0.2.0/120", "192.0.2.1", true),
            ("203.0.113.5", "203.0.113.5", true),
            ("203.0.113.5", "203.0.113.6", false),
        ];
        for (block, addr, expected) in cases {
            let cidr: Cidr = block.parse().unwrap();
            assert_eq!(cidr.contains(ip(addr)), expected, "{block} contains {addr}");
        }
    }

    #[test]
    fn a_mapped_v6_block_is_stored_as_v4() {
        assert_eq!(
            "::ffff:10.0.0.0/104".parse::<Cidr>().unwrap(),
            "10.0.0.0/8".parse::<Cidr>().unwrap()
        );
    }

    #[test]
    fn bad_entries_are_refused_and_named() {
        let cases = [
            ("10.0.0.0/33", "exceeds"),
            ("10.0.0.0/", "not a number"),
            ("10.0.0.0/8x", "not a number"),
            ("10.0.0.0/-1", "not a number"),
            ("2001:db8::/129", "exceeds"),
            ("10.0.0.0/99999999999999", "exceeds"),
            ("example.com", "not an IP"),
            ("", "not an IP"),
            ("10.0.0.1/8", "host bits"),
        ];
        for (entry, reason) in cases {
            let err = entry.parse::<Cidr>().unwrap_err().to_string();
            assert!(err.contains(reason), "{entry}: {err}");
            assert!(
                err.contains(&format!("{entry:?}")),
                "{entry}: error names the entry: {err}"
            );
        }
    }

    #[test]
    fn a_source_key_is_the_v4_address_or_the_v6_slash_64() {
        assert_eq!(source_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(source_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(source_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn display_round_trips() {
        for text in ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32"] {
            assert_eq!(text.parse::<Cidr>().unwrap().to_string(), text);
        }
    }
}
