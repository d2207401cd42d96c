//! Strict input, named in the error (issue 19): each case a client can get wrong is a 400
//! (or the right status) with the JSON error envelope naming the field at fault, on a live
//! server. Also the number lifecycle: release, moving between trunks, agent versions.

mod common;

use common::api::{split, Api};
use serde_json::{json, Value};

/// A 400 naming `field`; its message.
fn refused(answer: (u16, Value), field: &str) -> String {
    let (status, body) = answer;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some(field)), "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[test]
fn phone_numbers_follow_the_numbering_plans_and_errors_say_why() {
    let api = Api::start("");
    let message = refused(api.register("+0123456789"), "phone_number");
    assert!(message.contains("never start with 0"), "{message}");
    let message = refused(api.register("+12345678"), "phone_number");
    assert!(message.contains("10 digits"), "{message}");
    let message = refused(api.register("0044 20 7183 8750"), "phone_number");
    assert!(message.contains("+442071838750"), "{message}");
    refused(api.register("+1 011 555 0100"), "phone_number");
    refused(api.register("not a number"), "phone_number");
    let message = refused(api.register(&"5".repeat(1_000_000)), "phone_number");
    assert!(message.len() < 200, "the error does not echo the input whole");
    // A national form in the default country ("1").
    let (status, number) = api.register("555 000 2222");
    assert_eq!((status, number["phone_number"].as_str()), (201, Some("+15550002222")));
    let message = refused(
        api.send(
            "POST",
            "/core/phone-numbers/purchase-number",
            Some(json!({"phone_number": "+12345678"})),
        ),
        "phone_number",
    );
    assert!(message.contains("10 digits"), "{message}");
}

#[test]
fn national_forms_are_read_in_the_configured_default_country() {
    let api = Api::start("[routing]\ndefault_country = \"44\"\n");
    let (status, number) = api.register("020 7946 0000");
    assert_eq!((status, number["phone_number"].as_str()), (201, Some("+442079460000")));
    let (status, _) = api.send("GET", "/core/phone-numbers/02079460000", None);
    assert_eq!(status, 200, "looked up by its national form too");
    let (status, number) = api.register("+1 555 000 3333");
    assert_eq!((status, number["phone_number"].as_str()), (201, Some("+15550003333")));
}

#[test]
fn a_trunk_address_is_a_host_or_ip_with_an_optional_port() {
    let api = Api::start("");
    let huge = "a".repeat(1_900_000);
    let message = refused(api.trunk("huge", &huge), "outbound_config.address");
    assert!(message.len() < 300, "{}", message.len());
    for bad in [
        "sip:carrier.example",
        "carrier.example;transport=tcp",
        "carrier.example:70000",
        "two words",
    ] {
        refused(api.trunk("bad", bad), "outbound_config.address");
    }
    for good in [
        "carrier.example",
        "carrier.example:5080",
        "203.0.113.7:5060",
        "[2001:db8::1]:5061",
    ] {
        let (status, trunk) = api.trunk("good", good);
        assert_eq!(status, 201, "{good}: {trunk}");
        assert_eq!(trunk["outbound_config"]["address"], good);
    }
}

#[test]
fn date_filters_are_rfc3339_instants_compared_as_times() {
    let api = Api::start("");
    let (status, all) = api.send("GET", "/core/phone-numbers", None);
    assert_eq!(status, 200);
    let created = all["data"][0]["created_at"].as_str().unwrap().to_owned();
    for field in ["created_after", "created_before", "updated_after", "updated_before"] {
        refused(
            api.send("GET", &format!("/core/phone-numbers?{field}=yesterday"), None),
            field,
        );
    }
    refused(
        api.send("GET", "/core/agents?created_after=2026-13-01", None),
        "created_after",
    );
    // The same instant an hour east: nothing is created after it, everything before the
    // next hour; as text, "+01:00" would sort differently.
    let instant = time::OffsetDateTime::parse(&created, &time::format_description::well_known::Rfc3339).unwrap();
    let east = instant.to_offset(time::UtcOffset::from_hms(1, 0, 0).unwrap());
    let written = east
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .replace('+', "%2B");
    let (status, before) = api.send("GET", &format!("/core/phone-numbers?created_before={written}"), None);
    assert_eq!(status, 200);
    assert!(
        before["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["created_at"].as_str().unwrap() < created.as_str()),
        "{before}"
    );
    let later = (instant + time::Duration::hours(1))
        .to_offset(time::UtcOffset::from_hms(-5, 0, 0).unwrap())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, until_later) = api.send("GET", &format!("/core/phone-numbers?created_before={later}"), None);
    assert_eq!(
        until_later["data"].as_array().unwrap().len(),
        all["data"].as_array().unwrap().len()
    );
}

#[test]
fn a_cursor_stays_valid_when_its_item_is_deleted() {
    let api = Api::start("");
    for n in ["+15550004441", "+15550004442", "+15550004443"] {
        assert_eq!(api.register(n).0, 201);
    }
    let (_, first) = api.send("GET", "/core/phone-numbers?limit=2", None);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let last_served = first["data"][1]["phone_number"].as_str().unwrap().to_owned();
    assert_eq!(
        api.send("DELETE", &format!("/core/phone-numbers/{last_served}"), None)
            .0,
        204
    );
    let (status, next) = api.send("GET", &format!("/core/phone-numbers?limit=2&cursor={cursor}"), None);
    assert_eq!(status, 200, "{next}");
    let (_, everything) = api.send("GET", "/core/phone-numbers", None);
    let expected: Vec<&Value> = everything["data"].as_array().unwrap()[1..3].iter().collect();
    let got: Vec<&Value> = next["data"].as_array().unwrap().iter().collect();
    assert_eq!(got, expected, "the page after the deleted item");
    refused(api.send("GET", "/core/phone-numbers?cursor=nonsense!", None), "cursor");
}

#[test]
fn not_found_method_not_allowed_and_too_large_use_the_json_envelope() {
    let api = Api::start("");
    let (status, body) = api.send("GET", "/core/nothing-here", None);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let response = api
        .client
        .delete(api.url("/core/calls"))
        .bearer_auth(&api.key)
        .send()
        .unwrap();
    let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = split(response);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{body}"
    );
    assert!(allow.is_some_and(|a| a.contains("GET")), "Allow is kept");
    let big = json!({"name": "x".repeat(3 * 1024 * 1024)});
    let (status, body) = api.send("POST", "/core/agents", Some(big.clone()));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );
    let (status, body) = api.send(
        "POST",
        "/core/agents/0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11/versions/1/publish",
        Some(big),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );
}

#[test]
fn a_401_names_the_bearer_scheme_in_any_case() {
    let api = Api::start("");
    let response = api.client.get(api.url("/core/agents")).send().unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let (status, body) = split(response);
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = api
            .client
            .get(api.url("/core/agents"))
            .header("authorization", format!("{scheme} {}", api.key))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
}

/// The OpenAPI document says what the API enforces: required fields and defaults.
#[test]
fn openapi_lists_required_fields_and_defaults() {
    let text = std::fs::read_to_string(common::repo().join("openapi.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    let required = |name: &str| -> Vec<String> {
        schema(name)["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} lists no required fields"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(required("PhoneNumberInput").contains(&"phone_number".to_owned()));
    assert!(required("PhoneNumberInput").contains(&"trunk_id".to_owned()));
    assert!(required("TrunkInput").contains(&"name".to_owned()));
    assert!(required("TrunkInput").contains(&"outbound_config".to_owned()));
    for field in ["address", "auth_username", "auth_password"] {
        assert!(required("OutboundConfigInput").contains(&field.to_owned()), "{field}");
    }
    assert_eq!(
        schema("PhoneNumberInput")["properties"]["outbound_shareable"]["default"],
        false
    );
    assert_eq!(
        schema("OutboundConfigInput")["properties"]["transport"]["default"],
        "UDP"
    );
    assert_eq!(
        schema("OutboundConfigInput")["properties"]["media_encryption"]["default"],
        "NONE"
    );
    assert_eq!(schema("RoutingConfigInput")["properties"]["enabled"]["default"], true);
    let versions = &doc["paths"]["/core/agents/{id}/versions"];
    assert!(versions["get"].is_object(), "GET versions is documented");
    let patch = &doc["paths"]["/core/phone-numbers/{phone_number}"]["patch"];
    assert!(patch.to_string().contains("trunk_id"), "PATCH documents trunk_id");
}

#[test]
fn a_released_number_goes_back_on_sale() {
    let api = Api::start("");
    let (_, found) = api.send("GET", "/core/phone-numbers/search?area_code=312", None);
    let number = found["data"][0]["phone_number"].as_str().unwrap().to_owned();
    let (status, _) = api.send(
        "POST",
        "/core/phone-numbers/purchase-number",
        Some(json!({"phone_number": number})),
    );
    assert_eq!(status, 201);
    let on_sale = |api: &Api| {
        let (_, found) = api.send("GET", "/core/phone-numbers/search?area_code=312&limit=100", None);
        found["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["phone_number"] == number.as_str())
    };
    assert!(!on_sale(&api));
    assert_eq!(
        api.send("DELETE", &format!("/core/phone-numbers/{number}"), None).0,
        204
    );
    assert!(on_sale(&api), "released at the provider");
    assert_eq!(api.send("GET", &format!("/core/phone-numbers/{number}"), None).0, 404);
}

#[test]
fn a_number_moves_to_another_trunk_of_its_org() {
    let api = Api::start("");
    let (_, trunk) = api.trunk("Carrier B", "carrier-b.example");
    let trunk_b = trunk["id"].as_str().unwrap().to_owned();
    let (status, moved) = api.send(
        "PATCH",
        "/core/phone-numbers/+15551234567",
        Some(json!({"trunk_id": trunk_b})),
    );
    assert_eq!(
        (status, moved["trunk_id"].as_str()),
        (200, Some(trunk_b.as_str())),
        "{moved}"
    );
    assert_eq!(moved["inbound_agent_version_id"], "ver_demo_1", "the agent slots stay");
    let (status, _) = api.send("GET", &format!("/core/phone-numbers?trunk_id={trunk_b}"), None);
    assert_eq!(status, 200);
    let message = refused(
        api.send(
            "PATCH",
            "/core/phone-numbers/+15551234567",
            Some(json!({"trunk_id": "trk_demo_managed"})),
        ),
        "trunk_id",
    );
    assert!(message.contains("managed"), "{message}");
    refused(
        api.send(
            "PATCH",
            "/core/phone-numbers/+15551234567",
            Some(json!({"trunk_id": "trk_nobody"})),
        ),
        "trunk_id",
    );
    // Every number moved off the demo BYOC trunk: it can be deleted now.
    let (_, left) = api.send("GET", "/core/phone-numbers?trunk_id=trk_demo_byoc", None);
    for n in left["data"].as_array().unwrap() {
        let path = format!("/core/phone-numbers/{}", n["phone_number"].as_str().unwrap());
        assert_eq!(api.send("PATCH", &path, Some(json!({"trunk_id": trunk_b}))).0, 200);
    }
    assert_eq!(api.send("DELETE", "/core/trunks/trk_demo_byoc", None).0, 204);
}

#[test]
fn an_agents_versions_are_listed() {
    let api = Api::start("");
    let agent = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";
    for _ in 0..2 {
        assert_eq!(api.send("POST", &format!("/core/agents/{agent}/versions"), None).0, 201);
    }
    let (status, page) = api.send("GET", &format!("/core/agents/{agent}/versions"), None);
    assert_eq!(status, 200, "{page}");
    let versions: Vec<u64> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    let (_, first) = api.send("GET", &format!("/core/agents/{agent}/versions?limit=2"), None);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, rest) = api.send(
        "GET",
        &format!("/core/agents/{agent}/versions?limit=2&cursor={cursor}"),
        None,
    );
    assert_eq!(rest["data"][0]["version"], 3);
    assert_eq!(api.send("GET", "/core/agents/no-such-agent/versions", None).0, 404);
}

/// With the default config managed trunks place no calls: making a purchased number an
/// outbound caller ID says so; with a managed carrier configured it is accepted.
#[test]
fn an_outbound_agent_on_a_purchased_number_says_why_not_or_calls_out() {
    for (extra, accepted) in [
        ("", false),
        ("[outbound]\nmanaged_termination_host = \"127.0.0.1:5099\"\n", true),
    ] {
        let api = Api::start(extra);
        let (_, found) = api.send("GET", "/core/phone-numbers/search?area_code=206", None);
        let number = found["data"][0]["phone_number"].as_str().unwrap().to_owned();
        let (status, _) = api.send(
            "POST",
            "/core/phone-numbers/purchase-number",
            Some(json!({"phone_number": number})),
        );
        assert_eq!(status, 201);
        let publish = api.send(
            "POST",
            "/core/agents/0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11/versions/1/publish",
            Some(json!({"phone_numbers": [number], "direction": "outbound"})),
        );
        let shareable = api.send(
            "PATCH",
            &format!("/core/phone-numbers/{number}"),
            Some(json!({"outbound_shareable": true})),
        );
        if accepted {
            assert_eq!(publish.0, 200, "{}", publish.1);
            assert_eq!(shareable.0, 200, "{}", shareable.1);
        } else {
            let message = refused(publish, "phone_numbers");
            assert!(message.contains("managed_termination_host"), "{message}");
            refused(shareable, "outbound_shareable");
            let inbound = api.send(
                "POST",
                "/core/agents/0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11/versions/1/publish",
                Some(json!({"phone_numbers": [number], "direction": "inbound"})),
            );
            assert_eq!(inbound.0, 200, "inbound calls need no managed carrier");
        }
    }
}
