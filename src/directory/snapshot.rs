//! The immutable directory the hot path reads. Phone numbers live in shards of
//! `Arc<HashMap>`, so a write clones one shard (1/1024 of the numbers), not the whole map,
//! and the new snapshot shares every other shard with the old one.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use super::model::{Agent, AgentVersion, ApiKey, Org, PhoneNumber, RoutingConfig, Trunk, UserToken};

const SHARDS: usize = 1024;

/// One consistent view of the directory.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    numbers: Vec<Arc<HashMap<String, Arc<PhoneNumber>>>>,
    pub orgs: Arc<HashMap<String, Org>>,
    pub trunks: Arc<HashMap<String, Trunk>>,
    pub agents: Arc<HashMap<String, Agent>>,
    pub versions: Arc<HashMap<String, AgentVersion>>,
    /// API keys by the hex SHA-256 of the key.
    pub api_keys: Arc<HashMap<String, ApiKey>>,
    /// Inbound routing configs by org id.
    pub routing_configs: Arc<HashMap<String, RoutingConfig>>,
    /// User tokens by the hex SHA-256 of the token.
    pub user_tokens: Arc<HashMap<String, UserToken>>,
}

impl Snapshot {
    pub fn empty() -> Snapshot {
        Snapshot {
            numbers: (0..SHARDS).map(|_| Arc::new(HashMap::new())).collect(),
            ..Snapshot::default()
        }
    }

    /// The number record for a dialed number in E.164.
    pub fn number(&self, e164: &str) -> Option<&Arc<PhoneNumber>> {
        self.numbers[shard_of(e164)].get(e164)
    }

    /// Every number (unordered).
    pub fn numbers(&self) -> impl Iterator<Item = &Arc<PhoneNumber>> {
        self.numbers.iter().flat_map(|s| s.values())
    }

    pub fn number_count(&self) -> usize {
        self.numbers.iter().map(|s| s.len()).sum()
    }

    /// Insert or replace a number: clones only its shard.
    pub fn put_number(&mut self, number: PhoneNumber) {
        let shard = shard_of(&number.phone_number);
        Arc::make_mut(&mut self.numbers[shard]).insert(number.phone_number.clone(), Arc::new(number));
    }

    pub fn remove_number(&mut self, e164: &str) {
        let shard = shard_of(e164);
        Arc::make_mut(&mut self.numbers[shard]).remove(e164);
    }
}

fn shard_of(e164: &str) -> usize {
    // A fixed-key hash: the same number always lands in the same shard.
    let hasher = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    (hasher.hash_one(e164) as usize) % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(n: &str) -> PhoneNumber {
        PhoneNumber {
            id: format!("id-{n}"),
            org_id: "org".into(),
            phone_number: n.into(),
            trunk_id: "t".into(),
            inbound_agent_version_id: None,
            outbound_agent_version_id: None,
            outbound_shareable: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn a_write_clones_one_shard_and_shares_the_rest() {
        let mut a = Snapshot::empty();
        for i in 0..1000 {
            a.put_number(number(&format!("+1555{i:07}")));
        }
        let mut b = a.clone();
        b.put_number(number("+15559999999"));
        let shared = a
            .numbers
            .iter()
            .zip(&b.numbers)
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count();
        assert_eq!(shared, SHARDS - 1);
        assert!(a.number("+15559999999").is_none());
        assert_eq!(b.number("+15559999999").unwrap().id, "id-+15559999999");
        assert_eq!(b.number_count(), 1001);
    }
}
