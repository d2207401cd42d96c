//! The management API of a live server as a test client: one key, JSON in, (status, JSON)
//! out; and a second org written into the server's store for tests of org isolation.

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

use super::Server;

pub struct Api {
    pub server: Server,
    pub key: String,
    pub client: Client,
}

impl Api {
    /// A server started with `extra` config, driven with the demo org's key.
    pub fn start(extra: &str) -> Api {
        let server = Server::start(extra);
        let key = super::demo_api_key(&server);
        Api {
            server,
            key,
            client: Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.http)
    }

    pub fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send_as(&self.key, method, path, body)
    }

    /// A request with another key.
    pub fn send_as(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        split(request.send().unwrap())
    }

    /// POST a number on the demo BYOC trunk.
    pub fn register(&self, number: &str) -> (u16, Value) {
        self.send(
            "POST",
            "/core/phone-numbers",
            Some(json!({"phone_number": number, "trunk_id": "trk_demo_byoc"})),
        )
    }

    /// POST a BYOC trunk with an outbound address.
    pub fn trunk(&self, name: &str, address: &str) -> (u16, Value) {
        self.send(
            "POST",
            "/core/trunks",
            Some(json!({"name": name, "outbound_config": {"address": address, "auth_username": "u", "auth_password": "p"}})),
        )
    }
}

/// A response's status and JSON body (`Null` when the body is not JSON).
pub fn split(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The keys [`add_second_org`] writes.
pub struct SecondOrg {
    /// Org B's API key.
    pub key: String,
    /// A user token acting for both the demo org and org B (`X-Org-Id` picks).
    pub user_token: String,
}

/// Org B (`org_b`) with a BYOC trunk `trk_b`, an API key and a user token for both orgs,
/// written into the server's SQLite store; the server is restarted (SIGKILL) to load them.
pub fn add_second_org(server: &mut Server) -> SecondOrg {
    use switchboard::directory::model::{ApiKey, InboundConfig, Org, Trunk, UserToken};
    use switchboard::directory::{hash_api_key, Directory, Object, ALL_SCOPES};
    let path = server.dir.path().join("data/switchboard.db");
    let store = switchboard::store::SqliteStore::open(&path).unwrap();
    let directory = Directory::load(std::sync::Arc::new(store)).unwrap();
    let org = SecondOrg {
        key: "ak_secondorg000000000000000000000".to_owned(),
        user_token: "pat_user000000000000000000000000".to_owned(),
    };
    let scopes: Vec<String> = ALL_SCOPES.iter().map(|s| s.to_string()).collect();
    directory
        .commit(
            vec![
                Object::Org(Org {
                    id: "org_b".into(),
                    name: "B".into(),
                    livekit_sip_host: None,
                }),
                Object::Trunk(Trunk {
                    id: "trk_b".into(),
                    org_id: "org_b".into(),
                    name: "B carrier".into(),
                    managed_account_id: None,
                    inbound_config: InboundConfig::default(),
                    outbound_config: None,
                    created_at: "t".into(),
                    updated_at: "t".into(),
                }),
                Object::ApiKey(ApiKey {
                    id: "key_b".into(),
                    org_id: "org_b".into(),
                    name: "B's key".into(),
                    hash: hash_api_key(&org.key),
                    scopes: scopes.clone(),
                    created_at: "t".into(),
                }),
                Object::UserToken(UserToken {
                    id: "tok_1".into(),
                    hash: hash_api_key(&org.user_token),
                    org_ids: vec!["org_demo".into(), "org_b".into()],
                    scopes,
                    created_at: "t".into(),
                }),
            ],
            vec![],
        )
        .unwrap();
    drop(directory);
    server.kill_and_restart();
    org
}
