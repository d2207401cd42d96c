//! The source ACL: which owners (trunk ids, or "livekit") claim a packet's source address.
//!
//! Owns the lookup from an address to every owner whose CIDR blocks contain it, overlaps
//! included. Refuses nothing at lookup time: a bad entry is reported by `build` and skipped,
//! so one typo does not take down every other trunk. Does not decide what to do with an
//! unknown source; that is `SecurityConfig::unknown_source`, applied by the caller.
//!
//! Blocks are nested or disjoint, so the address space cuts into runs over which the set of
//! owners does not change. `build` flattens the blocks into those runs (at most 2n+1, sorted
//! by first address); `owners` is one binary search over a `Vec<u32>` (or `u128`) of run
//! starts, ~14 comparisons for 10,000 blocks, and returns a slice built once, not per call.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::cidr::{canonical, Cidr, CidrError};

/// A bad entry in one owner's list; the rest of the list still applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("source ACL of {owner}: {source}")]
    BadCidr {
        owner: String,
        #[source]
        source: CidrError,
    },
}

/// Maps a source address to the owners whose blocks contain it. Immutable once built:
/// rebuild and swap on a directory change.
#[derive(Debug, Clone, Default)]
pub struct SourceAcl {
    v4: Runs<u32>,
    v6: Runs<u128>,
    /// Distinct owner sets, sorted and deduplicated; index 0 is the empty set.
    sets: Vec<Vec<String>>,
    blocks: usize,
}

impl SourceAcl {
    /// Builds the ACL from `(owner, cidrs)` pairs. Bad CIDRs are returned, one error each,
    /// and left out; an owner may appear in several pairs.
    pub fn build(entries: impl IntoIterator<Item = (String, Vec<String>)>) -> (SourceAcl, Vec<AclError>) {
        let mut direct: BTreeMap<Cidr, Vec<String>> = BTreeMap::new();
        let mut errors = Vec::new();
        for (owner, cidrs) in entries {
            for text in cidrs {
                match text.parse::<Cidr>() {
                    Ok(cidr) => direct.entry(cidr).or_default().push(owner.clone()),
                    Err(source) => errors.push(AclError::BadCidr {
                        owner: owner.clone(),
                        source,
                    }),
                }
            }
        }
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (cidr, owners) in direct {
            match cidr {
                Cidr::V4 { network, len } => {
                    let (lo, hi) = Cidr::range_v4(network, len);
                    v4.push(Block { lo, hi, owners });
                }
                Cidr::V6 { network, len } => {
                    let (lo, hi) = Cidr::range_v6(network, len);
                    v6.push(Block { lo, hi, owners });
                }
            }
        }
        let blocks = v4.len() + v6.len();
        let mut sets = Interner::default();
        let v4 = flatten(v4, &mut sets);
        let v6 = flatten(v6, &mut sets);
        (
            SourceAcl {
                v4,
                v6,
                sets: sets.sets,
                blocks,
            },
            errors,
        )
    }

    /// Every owner whose blocks contain `ip`, sorted, each once; empty for an unknown source.
    /// An IPv4-mapped IPv6 address is looked up as IPv4.
    pub fn owners(&self, ip: IpAddr) -> &[String] {
        let set = match canonical(ip) {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a)),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a)),
        };
        self.sets.get(set as usize).map_or(&[], Vec::as_slice)
    }

    /// Whether any owner claims `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        !self.owners(ip).is_empty()
    }

    /// How many distinct blocks were accepted.
    pub fn block_count(&self) -> usize {
        self.blocks
    }
}

/// A block as an inclusive range of its family's integers, with the owners that named it.
struct Block<K> {
    lo: K,
    hi: K,
    owners: Vec<String>,
}

/// Runs of the address space: `starts[i]..starts[i+1]` is owned by set `set_of[i]`.
/// Addresses before the first start belong to set 0 (nobody).
#[derive(Debug, Clone, Default)]
struct Runs<K> {
    starts: Vec<K>,
    set_of: Vec<u32>,
}

impl<K: Addr> Runs<K> {
    fn lookup(&self, a: K) -> u32 {
        match self.starts.partition_point(|&s| s <= a) {
            0 => 0,
            i => self.set_of[i - 1],
        }
    }

    /// Starts a run at `start`. Runs are pushed in non-decreasing order; a later run at the
    /// same start wins, and a run owned like the previous one is merged into it.
    fn push(&mut self, start: K, set: u32) {
        if self.starts.last() == Some(&start) {
            *self.set_of.last_mut().expect("parallel vectors") = set;
        } else if self.set_of.last() != Some(&set) {
            self.starts.push(start);
            self.set_of.push(set);
        }
    }
}

/// Flattens nested-or-disjoint blocks into runs. Sorted by first address, widest first, a
/// block is either inside the one on top of the stack or after it; an inner block's owners
/// include every enclosing block's, and when it ends the enclosing owners resume.
fn flatten<K: Addr>(mut blocks: Vec<Block<K>>, sets: &mut Interner) -> Runs<K> {
    blocks.sort_by(|a, b| a.lo.cmp(&b.lo).then(b.hi.cmp(&a.hi)));
    let mut runs = Runs {
        starts: Vec::new(),
        set_of: Vec::new(),
    };
    // (last address, set id, owners) of each open block, innermost on top.
    let mut open: Vec<(K, u32, Vec<String>)> = Vec::new();
    for block in blocks {
        while open.last().is_some_and(|top| top.0 < block.lo) {
            close_innermost(&mut open, &mut runs);
        }
        let mut owners = open.last().map(|top| top.2.clone()).unwrap_or_default();
        owners.extend(block.owners);
        owners.sort();
        owners.dedup();
        let id = sets.intern(&owners);
        runs.push(block.lo, id);
        open.push((block.hi, id, owners));
    }
    while !open.is_empty() {
        close_innermost(&mut open, &mut runs);
    }
    runs
}

fn close_innermost<K: Addr>(open: &mut Vec<(K, u32, Vec<String>)>, runs: &mut Runs<K>) {
    let Some((hi, _, _)) = open.pop() else { return };
    if let Some(next) = hi.successor() {
        runs.push(next, open.last().map_or(0, |top| top.1));
    }
}

/// Hands out one id per distinct owner set; id 0 is the empty set.
struct Interner {
    sets: Vec<Vec<String>>,
    ids: HashMap<Vec<String>, u32>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            sets: vec![Vec::new()],
            ids: HashMap::from([(Vec::new(), 0)]),
        }
    }
}

impl Interner {
    fn intern(&mut self, owners: &[String]) -> u32 {
        if let Some(&id) = self.ids.get(owners) {
            return id;
        }
        let id = u32::try_from(self.sets.len()).expect("fewer than 2^32 owner sets");
        self.sets.push(owners.to_vec());
        self.ids.insert(owners.to_vec(), id);
        id
    }
}

/// An address as an integer of its family.
trait Addr: Copy + Ord {
    fn successor(self) -> Option<Self>;
}

impl Addr for u32 {
    fn successor(self) -> Option<Self> {
        self.checked_add(1)
    }
}

impl Addr for u128 {
    fn successor(self) -> Option<Self> {
        self.checked_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(&str, &[&str])]) -> SourceAcl {
        let (acl, errors) = SourceAcl::build(
            entries
                .iter()
                .map(|(o, c)| (o.to_string(), c.iter().map(|s| s.to_string()).collect())),
        );
        assert!(errors.is_empty(), "{errors:?}");
        acl
    }

    fn owners<'a>(acl: &'a SourceAcl, ip: &str) -> Vec<&'a str> {
        acl.owners(ip.parse().unwrap()).iter().map(String::as_str).collect()
    }

    #[test]
    fn an_unknown_source_has_no_owner() {
        let acl = acl(&[("t1", &["192.0.2.0/24"])]);
        assert!(owners(&acl, "198.51.100.1").is_empty());
        assert!(owners(&acl, "2001:db8::1").is_empty());
        assert!(!acl.contains("0.0.0.0".parse().unwrap()));
        assert!(SourceAcl::default().owners("10.0.0.1".parse().unwrap()).is_empty());
    }

    #[test]
    fn overlapping_blocks_give_every_owner() {
        let acl = acl(&[
            ("wide", &["10.0.0.0/8"]),
            ("mid", &["10.1.0.0/16"]),
            ("host", &["10.1.2.3"]),
            ("twin", &["10.1.0.0/16"]),
        ]);
        let cases: &[(&str, &[&str])] = &[
            ("10.9.9.9", &["wide"]),
            ("10.1.0.0", &["mid", "twin", "wide"]),
            ("10.1.2.2", &["mid", "twin", "wide"]),
            ("10.1.2.3", &["host", "mid", "twin", "wide"]),
            ("10.1.2.4", &["mid", "twin", "wide"]),
            ("10.1.255.255", &["mid", "twin", "wide"]),
            ("10.2.0.0", &["wide"]),
            ("10.255.255.255", &["wide"]),
            ("11.0.0.0", &[]),
            ("9.255.255.255", &[]),
        ];
        for (ip, expected) in cases {
            assert_eq!(owners(&acl, ip), *expected, "owners of {ip}");
        }
    }

    #[test]
    fn blocks_ending_together_and_the_address_space_edges() {
        let acl = acl(&[
            ("all", &["0.0.0.0/0"]),
            ("top", &["255.255.255.0/24"]),
            ("last", &["255.255.255.255"]),
            ("first", &["0.0.0.0/32"]),
        ]);
        assert_eq!(owners(&acl, "0.0.0.0"), ["all", "first"]);
        assert_eq!(owners(&acl, "0.0.0.1"), ["all"]);
        assert_eq!(owners(&acl, "255.255.255.254"), ["all", "top"]);
        assert_eq!(owners(&acl, "255.255.255.255"), ["all", "last", "top"]);
        assert_eq!(owners(&acl, "128.0.0.0"), ["all"]);
    }

    #[test]
    fn ipv6_blocks_and_mapped_addresses() {
        let acl = acl(&[
            ("v6", &["2001:db8::/32"]),
            ("v6host", &["2001:db8::5"]),
            ("v4", &["192.0.2.0/24"]),
            ("loop", &["::1/128", "127.0.0.0/8"]),
        ]);
        assert_eq!(owners(&acl, "2001:db8:1::1"), ["v6"]);
        assert_eq!(owners(&acl, "2001:db8::5"), ["v6", "v6host"]);
        assert_eq!(owners(&acl, "::ffff:192.0.2.9"), ["v4"]);
        assert_eq!(owners(&acl, "::ffff:127.0.0.1"), ["loop"]);
        assert_eq!(owners(&acl, "::1"), ["loop"]);
        assert!(owners(&acl, "2001:db9::").is_empty());
        // 192.0.2.9 as an IPv4-compatible (not mapped) address is plain IPv6.
        assert!(owners(&acl, "::192.0.2.9").is_empty());
    }

    #[test]
    fn one_owner_in_several_entries_is_listed_once() {
        let acl = acl(&[("t1", &["10.0.0.0/8"]), ("t1", &["10.0.0.0/24", "10.0.0.0/8"])]);
        assert_eq!(owners(&acl, "10.0.0.1"), ["t1"]);
        assert_eq!(acl.block_count(), 2);
    }

    #[test]
    fn bad_entries_are_reported_and_the_rest_still_apply() {
        let (acl, errors) = SourceAcl::build([
            (
                "t1".to_string(),
                vec!["10.0.0.0/33".to_string(), "10.0.0.0/8".to_string()],
            ),
            ("t2".to_string(), vec!["nonsense".to_string()]),
        ]);
        assert_eq!(errors.len(), 2);
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(text[0].contains("t1") && text[0].contains("10.0.0.0/33"), "{}", text[0]);
        assert!(text[1].contains("t2") && text[1].contains("nonsense"), "{}", text[1]);
        assert_eq!(owners(&acl, "10.1.1.1"), ["t1"]);
    }

    #[test]
    fn many_random_blocks_agree_with_a_linear_scan() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut entries = Vec::new();
        for i in 0..300 {
            let len: u8 = rng.random_range(4..=32);
            let addr = u32::from_be_bytes([10, rng.random_range(0..4), rng.random(), rng.random()]);
            let net = addr & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            let text = format!("{}/{len}", std::net::Ipv4Addr::from(net));
            entries.push((format!("t{}", i % 40), vec![text]));
        }
        let (acl, errors) = SourceAcl::build(entries.clone());
        assert!(errors.is_empty());
        let parsed: Vec<(String, Cidr)> = entries
            .iter()
            .map(|(o, c)| (o.clone(), c[0].parse().unwrap()))
            .collect();
        for _ in 0..5_000 {
            let ip = IpAddr::from([10, rng.random_range(0..5), rng.random(), rng.random()]);
            let mut expected: Vec<&str> = parsed
                .iter()
                .filter(|(_, c)| c.contains(ip))
                .map(|(o, _)| o.as_str())
                .collect();
            expected.sort();
            expected.dedup();
            assert_eq!(
                acl.owners(ip).iter().map(String::as_str).collect::<Vec<_>>(),
                expected,
                "{ip}"
            );
        }
    }
}
