//! The Twilio provider against a local fake of Twilio's REST API (its documented JSON
//! shapes, Basic auth, and error bodies): search with filters, purchase, release, and
//! failures.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use switchboard::directory::model::Secret;
use switchboard::provider::{NumberProvider, ProviderError, SearchQuery, Twilio};

const SID: &str = "AC0123456789";
const TOKEN: &str = "twilio-token-secret";

fn authorised(headers: &HeaderMap) -> bool {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(
            json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()}),
        ),
    )
}

async fn available(
    Path((_sid, country, _kind)): Path<(String, String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    if !authorised(&headers) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let all = [
        ("+14155550101", "CA", "94103", true),
        ("+14155550102", "CA", "94103", false),
        ("+12125550103", "NY", "10001", true),
    ];
    let numbers: Vec<Value> = all
        .iter()
        .filter(|(n, ..)| q.get("AreaCode").is_none_or(|a| n[2..5] == **a))
        .filter(|(.., sms)| q.get("SmsEnabled").is_none_or(|want| want == &sms.to_string()))
        .map(|(n, region, postal, sms)| json!({"friendly_name": n, "phone_number": n, "region": region, "postal_code": postal, "iso_country": country, "capabilities": {"voice": true, "SMS": sms, "MMS": false}}))
        .collect();
    (
        StatusCode::OK,
        Json(json!({"available_phone_numbers": numbers, "uri": "/2010-04-01/..."})),
    )
}

async fn purchase(headers: HeaderMap, body: String) -> (StatusCode, Json<Value>) {
    if !authorised(&headers) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    // application/x-www-form-urlencoded: PhoneNumber=%2B1...
    let number = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("PhoneNumber="))
        .map(|v| v.replace("%2B", "+"));
    match number.as_deref() {
        Some("+15005550000") => twilio_error(StatusCode::BAD_REQUEST, 21422, "PhoneNumber is not available"),
        Some(n) => (
            StatusCode::CREATED,
            Json(json!({"sid": "PN0011223344", "phone_number": n, "account_sid": SID})),
        ),
        None => twilio_error(StatusCode::BAD_REQUEST, 21421, "PhoneNumber is required"),
    }
}

/// `GET IncomingPhoneNumbers.json?PhoneNumber=`: the account holds +14155550101 as PN0011223344.
async fn held(headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> (StatusCode, Json<Value>) {
    if !authorised(&headers) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let numbers: Vec<Value> = [("+14155550101", "PN0011223344")]
        .iter()
        .filter(|(n, _)| q.get("PhoneNumber").is_some_and(|p| p == n))
        .map(|(n, sid)| json!({"sid": sid, "phone_number": n, "account_sid": SID}))
        .collect();
    (StatusCode::OK, Json(json!({"incoming_phone_numbers": numbers})))
}

/// `DELETE IncomingPhoneNumbers/{sid}.json`: 204, remembered for the test to see.
async fn release(
    Path((_sid, number)): Path<(String, String)>,
    headers: HeaderMap,
    axum::extract::State(released): axum::extract::State<Released>,
) -> StatusCode {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED;
    }
    released.lock().unwrap().push(number);
    StatusCode::NO_CONTENT
}

type Released = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Trunking API: `POST /v1/Trunks/{trunk}/PhoneNumbers` attaches a number by its sid;
/// trunk TK_full refuses (the trunk's number limit). Attachments are recorded as
/// "attach <trunk> <sid>" beside the releases.
async fn attach(
    Path(trunk): Path<String>,
    headers: HeaderMap,
    axum::extract::State(log): axum::extract::State<Released>,
    body: String,
) -> (StatusCode, Json<Value>) {
    if !authorised(&headers) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if trunk == "TK_full" {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21230,
            "Trunk has reached its phone number limit",
        );
    }
    let sid = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("PhoneNumberSid="))
        .unwrap_or("");
    log.lock().unwrap().push(format!("attach {trunk} {sid}"));
    (StatusCode::CREATED, Json(json!({"sid": sid, "trunk_sid": trunk})))
}

/// The fake, on a loopback port, served from its own thread.
fn fake_twilio() -> String {
    fake_twilio_releasing(Released::default())
}

fn fake_twilio_releasing(released: Released) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = Router::new()
                .route(
                    "/2010-04-01/Accounts/{sid}/AvailablePhoneNumbers/{country}/{kind}",
                    get(available),
                )
                .route(
                    "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
                    post(purchase).get(held),
                )
                .route(
                    "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/{number}",
                    axum::routing::delete(release),
                )
                .route("/v1/Trunks/{trunk}/PhoneNumbers", post(attach))
                .with_state(released);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

fn query(pairs: &[(&str, &str)]) -> SearchQuery {
    let mut q = json!({});
    for (k, v) in pairs {
        q[*k] = Value::String((*v).into());
    }
    serde_json::from_value(q).unwrap()
}

#[test]
fn search_sends_the_filters_and_maps_twilios_answer() {
    let twilio = Twilio::new(&fake_twilio(), SID, Secret(TOKEN.into()), "AC_managed");
    let found = twilio.search(&query(&[("area_code", "415"), ("sms", "true")])).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].phone_number, "+14155550101");
    assert!(found[0].sms && found[0].voice && !found[0].mms);
    assert_eq!((found[0].region.as_str(), found[0].country_code.as_str()), ("CA", "US"));
    assert_eq!(twilio.account_id(), "AC_managed");
}

#[test]
fn purchase_returns_the_sid_and_twilio_errors_are_clear() {
    let base = fake_twilio();
    let twilio = Twilio::new(&base, SID, Secret(TOKEN.into()), "AC_managed");
    assert_eq!(twilio.purchase("+14155550101").unwrap(), "PN0011223344");
    assert_eq!(
        twilio.purchase("+15005550000"),
        Err(ProviderError::NotAvailable("+15005550000".into()))
    );
    let wrong = Twilio::new(&base, SID, Secret("wrong".into()), "AC_managed");
    match wrong.search(&query(&[])) {
        Err(ProviderError::Upstream(message)) => {
            assert!(
                message.contains("Authenticate") && message.contains("20003"),
                "{message}"
            );
            assert!(!message.contains("wrong"), "the token never appears in errors");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn release_finds_the_number_and_deletes_it_at_twilio() {
    let released = Released::default();
    let base = fake_twilio_releasing(released.clone());
    let twilio = Twilio::new(&base, SID, Secret(TOKEN.into()), "AC_managed");
    twilio.release("+14155550101").unwrap();
    assert_eq!(*released.lock().unwrap(), ["PN0011223344.json"]);
    // A number the account no longer holds is released already.
    twilio.release("+12125550103").unwrap();
    assert_eq!(released.lock().unwrap().len(), 1);
    let wrong = Twilio::new(&base, SID, Secret("wrong".into()), "AC_managed");
    assert!(matches!(wrong.release("+14155550101"), Err(ProviderError::Upstream(_))));
}

#[test]
fn a_purchase_is_attached_to_the_sip_trunk_or_released_again() {
    let log = Released::default();
    let base = fake_twilio_releasing(log.clone());
    let twilio = Twilio::new(&base, SID, Secret(TOKEN.into()), "AC_managed").with_sip_trunk(&base, "TK_edge");
    assert_eq!(twilio.purchase("+14155550101").unwrap(), "PN0011223344");
    assert_eq!(*log.lock().unwrap(), ["attach TK_edge PN0011223344"]);
    log.lock().unwrap().clear();
    let full = Twilio::new(&base, SID, Secret(TOKEN.into()), "AC_managed").with_sip_trunk(&base, "TK_full");
    match full.purchase("+14155550101") {
        Err(ProviderError::Upstream(message)) => {
            assert!(
                message.contains("TK_full") && message.contains("released again"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*log.lock().unwrap(), ["PN0011223344.json"], "the number went back");
}
