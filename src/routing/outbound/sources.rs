//! Which source addresses are LiveKit's: their new INVITEs are outbound calls. IPs and
//! CIDRs, IPv4 and IPv6, parsed once from `[outbound] livekit_sources`.

use std::net::IpAddr;

/// A parsed list of IPs and CIDRs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAcl {
    nets: Vec<(IpAddr, u8)>,
}

impl SourceAcl {
    /// Parse `entries` (`"10.0.0.0/8"`, `"192.0.2.7"`, `"2001:db8::/32"`); the error names
    /// the first bad one.
    pub fn parse(entries: &[String]) -> Result<SourceAcl, String> {
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let (ip, bits) = entry.trim().split_once('/').unwrap_or((entry.trim(), ""));
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("{entry:?} is not an IP address or CIDR"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                "" => max,
                b => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{entry:?} has a bad prefix length"))?,
            };
            nets.push((ip, bits));
        }
        Ok(SourceAcl { nets })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|(net, bits)| in_net(*net, *bits, ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

fn in_net(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    let ip = match (net, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[&str]) -> SourceAcl {
        SourceAcl::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn ips_and_cidrs_of_both_families_match_what_they_cover() {
        let a = acl(&["10.1.0.0/16", "192.0.2.7"]);
        assert!(a.contains("10.1.200.3".parse().unwrap()));
        assert!(!a.contains("10.2.0.1".parse().unwrap()));
        assert!(a.contains("192.0.2.7".parse().unwrap()));
        assert!(!a.contains("192.0.2.8".parse().unwrap()));
        assert!(a.contains("::ffff:10.1.0.9".parse().unwrap()), "IPv4-mapped");
        let v6 = acl(&["2001:db8::/32"]);
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert!(acl(&["0.0.0.0/0"]).contains("203.0.113.9".parse().unwrap()));
        assert!(SourceAcl::default().is_empty());
    }

    #[test]
    fn a_bad_entry_is_named() {
        let err = SourceAcl::parse(&["10.0.0.0/33".to_string()]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert!(SourceAcl::parse(&["livekit.local".to_string()]).is_err());
    }
}
