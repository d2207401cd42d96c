//! The management API of a live server, against the rules of the product documentation:
//! each test asserts the status code and the JSON error body.

mod common;

use common::api::{add_second_org, split, Api};
use serde_json::{json, Value};

fn error_field(body: &Value) -> Option<&str> {
    body["error"]["field"].as_str()
}

fn byoc_trunk() -> Value {
    json!({"name": "Carrier A", "inbound_config": {"allowed_sources": ["198.51.100.0/24"]},
           "outbound_config": {"address": "sip.carrier.example", "auth_username": "u", "auth_password": "s3cret-pw", "transport": "TLS"}})
}

#[test]
fn requests_without_a_valid_key_get_401_json() {
    let api = Api::start("");
    let (status, body) = split(api.client.get(api.url("/core/trunks")).send().unwrap());
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = split(
        api.client
            .get(api.url("/core/trunks"))
            .bearer_auth("ak_wrong")
            .send()
            .unwrap(),
    );
    assert_eq!(status, 401);
}

#[test]
fn byoc_trunks_are_created_validated_and_never_show_their_password() {
    let api = Api::start("");
    let (status, body) = api.send(
        "POST",
        "/core/trunks",
        Some(json!({"outbound_config": {"address": "a", "auth_username": "u", "auth_password": "p"}})),
    );
    assert_eq!((status, error_field(&body)), (400, Some("name")));
    let (status, body) = api.send(
        "POST",
        "/core/trunks",
        Some(json!({"name": "x", "outbound_config": {"address": "a", "auth_username": "u"}})),
    );
    assert_eq!(
        (status, error_field(&body)),
        (400, Some("outbound_config.auth_password"))
    );
    let (status, body) = api.send("POST", "/core/trunks", Some(json!({"name": "x", "inbound_config": {"allowed_sources": ["not-an-ip"]}, "outbound_config": {"address": "a", "auth_username": "u", "auth_password": "p"}})));
    assert_eq!(
        (status, error_field(&body)),
        (400, Some("inbound_config.allowed_sources"))
    );
    let (status, trunk) = api.send("POST", "/core/trunks", Some(byoc_trunk()));
    assert_eq!(status, 201, "{trunk}");
    assert_eq!(trunk["outbound_config"]["transport"], "TLS");
    assert_eq!(trunk["outbound_config"]["media_encryption"], "NONE");
    assert!(
        trunk["outbound_config"].get("auth_password").is_none(),
        "write-only: {trunk}"
    );
    let id = trunk["id"].as_str().unwrap();
    let (status, got) = api.send("GET", &format!("/core/trunks/{id}"), None);
    assert_eq!(status, 200);
    assert!(!got.to_string().contains("s3cret-pw"));
    let (status, renamed) = api.send(
        "PUT",
        &format!("/core/trunks/{id}"),
        Some(json!({"name": "Carrier B", "outbound_config": {"address": "b", "auth_username": "u"}})),
    );
    assert_eq!(
        (status, renamed["name"].as_str()),
        (200, Some("Carrier B")),
        "PUT keeps the password when omitted"
    );
    let (status, _) = api.send("DELETE", &format!("/core/trunks/{id}"), None);
    assert_eq!(status, 204);
    let (status, body) = api.send("GET", &format!("/core/trunks/{id}"), None);
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn managed_trunks_are_read_only_and_take_no_direct_numbers() {
    let api = Api::start("");
    let (status, body) = api.send("PUT", "/core/trunks/trk_demo_managed", Some(byoc_trunk()));
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("managed"), "{body}");
    let (status, _) = api.send("DELETE", "/core/trunks/trk_demo_managed", None);
    assert_eq!(status, 400);
    let (status, body) = api.send(
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "+15550001111", "trunk_id": "trk_demo_managed"})),
    );
    assert_eq!((status, error_field(&body)), (400, Some("trunk_id")));
    assert!(
        body["error"]["message"].as_str().unwrap().contains("purchase"),
        "{body}"
    );
}

#[test]
fn numbers_are_normalised_unique_and_patch_touches_only_outbound_shareable() {
    let api = Api::start("");
    let (status, body) = api.send(
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "call me", "trunk_id": "trk_demo_byoc"})),
    );
    assert_eq!((status, error_field(&body)), (400, Some("phone_number")));
    let (status, body) = api.send(
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "+15550001111"})),
    );
    assert_eq!((status, error_field(&body)), (400, Some("trunk_id")));
    let (status, body) = api.send(
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "+15550001111", "trunk_id": "trk_demo_byoc", "inbound_agent_version_id": "nope"})),
    );
    assert_eq!((status, error_field(&body)), (400, Some("inbound_agent_version_id")));
    let (status, number) = api.send("POST", "/core/phone-numbers", Some(json!({"phone_number": "(555) 000-1111", "trunk_id": "trk_demo_byoc", "inbound_agent_version_id": "ver_demo_1"})));
    assert_eq!(status, 201, "{number}");
    assert_eq!(number["phone_number"], "+15550001111");
    assert_eq!(number["outbound_shareable"], false);
    let (status, _) = api.send(
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "+1 555 000 1111", "trunk_id": "trk_demo_byoc"})),
    );
    assert_eq!(status, 409);
    let (status, body) = api.send(
        "PATCH",
        "/core/phone-numbers/+15550001111",
        Some(json!({"inbound_agent_version_id": null})),
    );
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("inbound_agent_version_id"));
    let (status, patched) = api.send(
        "PATCH",
        "/core/phone-numbers/15550001111",
        Some(json!({"outbound_shareable": true})),
    );
    assert_eq!((status, &patched["outbound_shareable"]), (200, &json!(true)));
    assert_eq!(
        patched["inbound_agent_version_id"], "ver_demo_1",
        "the other slot is untouched"
    );
    let (status, _) = api.send("DELETE", "/core/phone-numbers/+15550001111", None);
    assert_eq!(status, 204);
    let (status, _) = api.send("GET", "/core/phone-numbers/+15550001111", None);
    assert_eq!(status, 404);
}

#[test]
fn lists_filter_and_paginate_with_a_cursor() {
    let api = Api::start("");
    let (status, page) = api.send("GET", "/core/phone-numbers?limit=1", None);
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, second) = api.send("GET", &format!("/core/phone-numbers?limit=1&cursor={cursor}"), None);
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_ne!(second["data"][0]["id"], page["data"][0]["id"]);
    assert!(second["next_cursor"].is_null());
    let (_, filtered) = api.send("GET", "/core/phone-numbers?phone_number=7654", None);
    assert_eq!(filtered["data"][0]["phone_number"], "+15557654321");
    let (status, body) = api.send("GET", "/core/phone-numbers?limit=0", None);
    assert_eq!((status, error_field(&body)), (400, Some("limit")));
    let (_, trunks) = api.send("GET", "/core/trunks?name=Managed", None);
    assert_eq!(trunks["data"].as_array().unwrap().len(), 1);
}

#[test]
fn an_acknowledged_write_survives_sigkill() {
    let mut api = Api::start("");
    let (status, _) = api.send(
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "+15550002222", "trunk_id": "trk_demo_byoc"})),
    );
    assert_eq!(status, 201);
    api.server.kill_and_restart();
    let (status, number) = api.send("GET", "/core/phone-numbers/+15550002222", None);
    assert_eq!((status, number["trunk_id"].as_str()), (200, Some("trk_demo_byoc")));
}

#[test]
fn publishing_a_version_writes_only_the_slots_direction_names() {
    let api = Api::start("");
    let (status, body) = api.send("POST", "/core/agents", Some(json!({})));
    assert_eq!((status, error_field(&body)), (400, Some("name")));
    let (status, agent) = api.send("POST", "/core/agents", Some(json!({"name": "Night desk"})));
    assert_eq!(status, 201);
    let id = agent["id"].as_str().unwrap();
    let (status, version) = api.send("POST", &format!("/core/agents/{id}/versions"), None);
    assert_eq!(
        (status, version["version"].as_u64(), version["published"].as_bool()),
        (201, Some(1), Some(false))
    );
    let (status, _) = api.send("GET", &format!("/core/agents/{id}/versions/latest"), None);
    assert_eq!(status, 404, "nothing published yet");
    let (status, body) = api.send(
        "POST",
        &format!("/core/agents/{id}/versions/1/publish"),
        Some(json!({"phone_numbers": ["+15550009999"]})),
    );
    assert_eq!((status, error_field(&body)), (400, Some("phone_numbers")));
    let (status, published) = api.send(
        "POST",
        &format!("/core/agents/{id}/versions/1/publish"),
        Some(json!({"phone_numbers": ["+15557654321"], "direction": "inbound"})),
    );
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["version"]["published"], true);
    let number = &published["phone_numbers"][0];
    assert_eq!(number["inbound_agent_version_id"], published["version"]["id"]);
    assert!(
        number["outbound_agent_version_id"].is_null(),
        "the outbound slot is not touched"
    );
    let (_, latest) = api.send("GET", &format!("/core/agents/{id}/versions/latest"), None);
    assert_eq!(latest["id"], published["version"]["id"]);
    // Unassigning a number whose slots point at another agent changes nothing.
    let (_, result) = api.send(
        "POST",
        &format!("/core/agents/{id}/versions/1/publish"),
        Some(json!({"unassign_phone_numbers": ["+15551234567"], "direction": "both"})),
    );
    assert_eq!(result["phone_numbers"][0]["inbound_agent_version_id"], "ver_demo_1");
    let (status, _) = api.send("DELETE", &format!("/core/agents/{id}"), None);
    assert_eq!(status, 409, "still assigned");
    let (_, result) = api.send(
        "POST",
        &format!("/core/agents/{id}/versions/1/publish"),
        Some(json!({"unassign_phone_numbers": ["+15557654321"]})),
    );
    assert!(result["phone_numbers"][0]["inbound_agent_version_id"].is_null());
    let (status, _) = api.send("DELETE", &format!("/core/agents/{id}"), None);
    assert_eq!(status, 204);
}

#[test]
fn the_inbound_routing_config_checks_its_fallback_and_is_one_per_org() {
    let api = Api::start("");
    let (status, _) = api.send("GET", "/core/inbound-routing-config", None);
    assert_eq!(status, 404);
    let (status, body) = api.send(
        "PUT",
        "/core/inbound-routing-config",
        Some(json!({"fallback_agent_id": "nobody"})),
    );
    assert_eq!((status, error_field(&body)), (400, Some("fallback_agent_id")));
    let agent = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";
    let (status, body) = api.send(
        "PUT",
        "/core/inbound-routing-config",
        Some(json!({"fallback_agent_id": agent, "fallback_agent_version": 7})),
    );
    assert_eq!((status, error_field(&body)), (400, Some("fallback_agent_version")));
    let (status, config) = api.send(
        "PUT",
        "/core/inbound-routing-config",
        Some(json!({"fallback_agent_id": agent, "fallback_agent_version": 1})),
    );
    assert_eq!(
        (status, config["enabled"].as_bool()),
        (200, Some(true)),
        "enabled defaults to true"
    );
    let (status, got) = api.send("GET", "/core/inbound-routing-config", None);
    assert_eq!((status, got["fallback_agent_version"].as_u64()), (200, Some(1)));
    let (status, body) = api.send(
        "PUT",
        "/core/inbound-routing-config",
        Some(json!({"workflow_definition": "(module (func (export \"route\") (result i32) i32.const 0))"})),
    );
    assert_eq!(
        (status, error_field(&body)),
        (400, Some("workflow_definition")),
        "no memory, no ABI version"
    );
    let wat = "(module (memory (export \"memory\") 1) (global (export \"abi_version\") i32 (i32.const 1)) \
               (func (export \"route\") (result i32) i32.const 0))";
    let (status, stored) = api.send(
        "PUT",
        "/core/inbound-routing-config",
        Some(json!({"enabled": false, "workflow_definition": wat})),
    );
    assert_eq!(
        (
            status,
            stored["workflow_definition"].as_str(),
            stored["enabled"].as_bool()
        ),
        (200, Some(wat), Some(false))
    );
    let (status, _) = api.send("DELETE", "/core/inbound-routing-config", None);
    assert_eq!(status, 204);
    let (status, _) = api.send("DELETE", "/core/inbound-routing-config", None);
    assert_eq!(status, 404);
}

#[test]
fn a_searched_number_is_bought_onto_the_managed_trunk() {
    let api = Api::start("");
    let (status, found) = api.send("GET", "/core/phone-numbers/search?area_code=212&sms=true", None);
    assert_eq!(status, 200);
    let first = found["data"][0]["phone_number"]
        .as_str()
        .expect("sandbox inventory")
        .to_owned();
    assert!(first.starts_with("+1212"));
    assert_eq!(found["data"][0]["sms"], true);
    let (status, body) = api.send("GET", "/core/phone-numbers/search?voice=perhaps", None);
    assert_eq!((status, error_field(&body)), (400, Some("voice")));
    let (status, bought) = api.send(
        "POST",
        "/core/phone-numbers/purchase-number",
        Some(json!({"phone_number": first})),
    );
    assert_eq!(status, 201, "{bought}");
    assert_eq!(
        bought["trunk_id"], "trk_demo_managed",
        "lands on the org's managed trunk"
    );
    let (status, _) = api.send(
        "POST",
        "/core/phone-numbers/purchase-number",
        Some(json!({"phone_number": first})),
    );
    assert_eq!(status, 409, "already ours");
    let (status, body) = api.send(
        "POST",
        "/core/phone-numbers/purchase-number",
        Some(json!({"phone_number": "+19995550000"})),
    );
    assert_eq!((status, error_field(&body)), (400, Some("phone_number")));
    let (status, got) = api.send("GET", &format!("/core/phone-numbers/{first}"), None);
    assert_eq!((status, got["trunk_id"].as_str()), (200, Some("trk_demo_managed")));
}

/// A second org (with a trunk and an API key) and a user token for both orgs, written into
/// the server's store; the restart loads them.
#[test]
fn an_org_never_sees_or_touches_another_orgs_objects() {
    let mut api = Api::start("");
    let other_key = add_second_org(&mut api.server).key;
    let other = |method: &str, path: &str, body: Option<Value>| {
        let mut r = api
            .client
            .request(method.parse().unwrap(), api.url(path))
            .bearer_auth(&other_key);
        if let Some(body) = body {
            r = r.json(&body);
        }
        split(r.send().unwrap())
    };
    let (status, trunks) = other("GET", "/core/trunks", None);
    assert_eq!(status, 200);
    assert_eq!(
        trunks["data"].as_array().unwrap().len(),
        1,
        "only its own trunk: {trunks}"
    );
    assert_eq!(
        other("GET", "/core/trunks/trk_demo_byoc", None).0,
        404,
        "404, not 403: ids do not leak"
    );
    assert_eq!(other("DELETE", "/core/trunks/trk_demo_byoc", None).0, 404);
    assert_eq!(other("GET", "/core/phone-numbers/+15551234567", None).0, 404);
    assert_eq!(
        other(
            "PATCH",
            "/core/phone-numbers/+15551234567",
            Some(json!({"outbound_shareable": true}))
        )
        .0,
        404
    );
    let (status, body) = other(
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "+15550003333", "trunk_id": "trk_demo_byoc"})),
    );
    assert_eq!(
        (status, error_field(&body)),
        (400, Some("trunk_id")),
        "another org's trunk does not exist for it"
    );
    let (_, numbers) = other("GET", "/core/phone-numbers", None);
    assert!(numbers["data"].as_array().unwrap().is_empty());
}

#[test]
fn a_user_token_acts_for_the_org_named_in_x_org_id() {
    let mut api = Api::start("");
    let pat = add_second_org(&mut api.server).user_token;
    let get = |org: Option<&str>| {
        let mut r = api.client.get(api.url("/core/trunks")).bearer_auth(&pat);
        if let Some(org) = org {
            r = r.header("X-Org-Id", org);
        }
        split(r.send().unwrap())
    };
    let (status, body) = get(None);
    assert_eq!((status, error_field(&body)), (400, Some("X-Org-Id")));
    let (status, demo) = get(Some("org_demo"));
    assert_eq!((status, demo["data"].as_array().unwrap().len()), (200, 2));
    let (status, b) = get(Some("org_b"));
    assert_eq!((status, b["data"][0]["id"].as_str()), (200, Some("trk_b")));
    assert_eq!(get(Some("org_elsewhere")).0, 404);
}

#[test]
fn the_per_org_number_limit_is_a_clear_error() {
    let api = Api::start("[directory]\nmax_numbers_per_org = 3\n");
    let (status, _) = api.send(
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "+15550004444", "trunk_id": "trk_demo_byoc"})),
    );
    assert_eq!(status, 201, "the demo's two numbers and this one make three");
    let (status, body) = api.send(
        "POST",
        "/core/phone-numbers",
        Some(json!({"phone_number": "+15550005555", "trunk_id": "trk_demo_byoc"})),
    );
    assert_eq!((status, error_field(&body)), (400, Some("phone_number")));
    assert!(
        body["error"]["message"].as_str().unwrap().contains("limit of 3"),
        "{body}"
    );
}

#[test]
fn a_first_purchase_creates_the_orgs_managed_trunk() {
    let mut api = Api::start("");
    let other_key = add_second_org(&mut api.server).key;
    let (status, found) = split(
        api.client
            .get(api.url("/core/phone-numbers/search?area_code=312"))
            .bearer_auth(&other_key)
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200);
    let number = found["data"][0]["phone_number"].as_str().unwrap().to_owned();
    let (status, bought) = split(
        api.client
            .post(api.url("/core/phone-numbers/purchase-number"))
            .bearer_auth(&other_key)
            .json(&json!({"phone_number": number}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 201, "{bought}");
    let trunk = bought["trunk_id"].as_str().unwrap();
    let (_, trunk) = split(
        api.client
            .get(api.url(&format!("/core/trunks/{trunk}")))
            .bearer_auth(&other_key)
            .send()
            .unwrap(),
    );
    assert_eq!(
        trunk["managed_account_id"], "AC_sandbox",
        "a new managed trunk: {trunk}"
    );
}

#[test]
fn a_number_added_through_the_api_is_routed_by_the_very_next_call() {
    // No agent listens at the LiveKit address (one of its own: other tests run SIPp agents
    // on the default), so a routed call ends 503 (agent unreachable) and an unrouted one 404.
    let livekit = format!("127.0.0.63:{}", common::free_port());
    let api = Api::start(&format!(
        "[b2bua]\nagent_response_timeout_secs = 1\n[routing]\nlivekit_host = \"{livekit}\"\n"
    ));
    assert_eq!(common::invite_status(&api.server, "+15550006666", "before"), 404);
    let (status, _) = api.send("POST", "/core/phone-numbers", Some(json!({"phone_number": "+15550006666", "trunk_id": "trk_demo_byoc", "inbound_agent_version_id": "ver_demo_1"})));
    assert_eq!(status, 201);
    assert_eq!(common::invite_status(&api.server, "+15550006666", "after"), 503);
}

/// The must-show: a read-only key made through the API reads (200), is refused a write
/// (403), and once deleted is refused at once (401). The key is shown once and listed
/// without its secret; it never holds more than the key that made it.
#[test]
fn a_read_only_key_reads_is_refused_writes_and_dies_with_its_delete() {
    let api = Api::start("");
    let (status, made) = api.send(
        "POST",
        "/core/api-keys",
        Some(json!({"name": "dashboard", "scopes": ["read"]})),
    );
    assert_eq!(status, 201, "{made}");
    let (id, key) = (made["id"].as_str().unwrap(), made["key"].as_str().unwrap());
    assert!(key.starts_with("ak_"), "{made}");
    assert!(made["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s.as_str().unwrap().ends_with(":read")));
    let reader = |method: &str, path: &str, body: Option<Value>| api.send_as(key, method, path, body);
    let (status, body) = reader("GET", "/core/phone-numbers", None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = reader("POST", "/core/trunks", Some(byoc_trunk()));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert_eq!(
        reader("POST", "/core/api-keys", Some(json!({"name": "x", "scopes": ["read"]}))).0,
        403
    );

    // Listed, without the secret or its hash.
    let (status, list) = api.send("GET", "/core/api-keys", None);
    assert_eq!(status, 200);
    let text = list.to_string();
    assert!(text.contains(id) && text.contains("dashboard"), "{text}");
    assert!(!text.contains(key) && !text.contains("hash"), "{text}");

    assert_eq!(api.send("DELETE", &format!("/core/api-keys/{id}"), None).0, 204);
    let (status, body) = reader("GET", "/core/phone-numbers", None);
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    assert_eq!(api.send("DELETE", &format!("/core/api-keys/{id}"), None).0, 404);
}

#[test]
fn keys_ask_for_known_scopes_and_never_more_than_their_maker() {
    let api = Api::start("");
    for (body, field) in [
        (json!({"name": "k", "scopes": ["admin"]}), "scopes"),
        (json!({"name": "k", "scopes": []}), "scopes"),
        (json!({"name": "", "scopes": ["read"]}), "name"),
    ] {
        let (status, answer) = api.send("POST", "/core/api-keys", Some(body));
        assert_eq!((status, error_field(&answer)), (400, Some(field)), "{answer}");
    }
    let (_, made) = api.send(
        "POST",
        "/core/api-keys",
        Some(json!({"name": "numbers", "scopes": ["phone_numbers:manage", "api_keys:manage"]})),
    );
    let narrow_key = made["key"].as_str().unwrap();
    let narrow = |method: &str, path: &str, body: Option<Value>| api.send_as(narrow_key, method, path, body);
    let (status, answer) = narrow(
        "POST",
        "/core/api-keys",
        Some(json!({"name": "k", "scopes": ["manage"]})),
    );
    assert_eq!((status, error_field(&answer)), (400, Some("scopes")), "{answer}");
    let (status, _) = narrow(
        "POST",
        "/core/api-keys",
        Some(json!({"name": "k", "scopes": ["phone_numbers:read"]})),
    );
    assert_eq!(status, 201);
}

/// RFC 9110/6750: a 401 says `WWW-Authenticate: Bearer`, the scheme matches in any case;
/// an `ak_` key naming another org in X-Org-Id is a 403, not silently its own org; the
/// demo key sits in a 0600 file and not on stdout.
#[test]
fn bearer_is_case_insensitive_and_an_org_key_stays_in_its_org() {
    use std::os::unix::fs::PermissionsExt;
    let api = Api::start("");
    let response = api.client.get(api.url("/core/trunks")).send().unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = api
            .client
            .get(api.url("/core/trunks"))
            .header("Authorization", format!("{scheme} {}", api.key))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{scheme}");
    }
    let other = |org: &str| {
        split(
            api.client
                .get(api.url("/core/trunks"))
                .bearer_auth(&api.key)
                .header("X-Org-Id", org)
                .send()
                .unwrap(),
        )
    };
    let (status, body) = other("org_b");
    assert_eq!((status, error_field(&body)), (403, Some("X-Org-Id")), "{body}");
    assert_eq!(other("org_demo").0, 200);

    let file = api.server.dir.path().join("data/demo-api-key");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!api.server.stdout_text().contains(&api.key));
    assert!(!api.server.log_text().contains(&api.key));
}

/// A misspelt query parameter is a 400 naming it, never a silent default.
#[test]
fn unknown_query_parameters_are_named() {
    let api = Api::start("");
    let (status, body) = api.send("GET", "/core/phone-numbers?limt=5", None);
    assert_eq!((status, error_field(&body)), (400, Some("limt")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("limt"), "{body}");
    let (status, body) = api.send("GET", "/core/phone-numbers?limit=1", None);
    assert_eq!(
        (status, body["data"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{body}"
    );
    let (status, body) = api.send("GET", "/core/trunks?name=Demo&bogus=1&limit=5", None);
    assert_eq!((status, error_field(&body)), (400, Some("bogus")), "{body}");
    let (status, body) = api.send("GET", "/core/calls?limit=5&direction=inbound", None);
    assert_eq!(status, 200, "{body}");
}
