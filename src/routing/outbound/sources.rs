//! Which source addresses are LiveKit's: their new INVITEs are outbound calls. IPs and
//! CIDRs, IPv4 and IPv6, parsed once from `[outbound] livekit_sources`.

use std::net::IpAddr;

/// A parsed list of IPs and CIDRs (the security module's ACL, with one owner).
#[derive(Debug)]
pub struct SourceAcl {
    acl: crate::security::SourceAcl,
    empty: bool,
}

impl Default for SourceAcl {
    fn default() -> SourceAcl {
        SourceAcl::parse(&[]).expect("an empty list parses")
    }
}

impl SourceAcl {
    /// Parse `entries` (`"10.0.0.0/8"`, `"192.0.2.7"`, `"2001:db8::/32"`); the error names
    /// the first bad one.
    pub fn parse(entries: &[String]) -> Result<SourceAcl, String> {
        let (acl, errors) = crate::security::SourceAcl::build([("livekit".to_owned(), entries.to_vec())]);
        if let Some(error) = errors.first() {
            return Err(error.to_string());
        }
        Ok(SourceAcl {
            acl,
            empty: entries.is_empty(),
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.acl.contains(ip)
    }

    pub fn is_empty(&self) -> bool {
        self.empty
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
