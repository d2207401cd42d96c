//! Properties of the SIP core over generated input: what we build or edit parses back to
//! the same message, and no truncation or byte flip of a real message makes the parser,
//! the validator or the framer panic.

use bytes::Bytes;
use proptest::prelude::*;
use switchboard::sip::{
    best_effort_response, validate_request, HeaderName, Message, Method, RequestBuilder, StreamFramer,
};

fn fixtures() -> Vec<Bytes> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![Bytes::from(
        std::fs::read(root.join("fixtures/carrier-invite.sip")).unwrap(),
    )];
    for name in [
        "wsinv", "intmeth", "esc01", "longreq", "mpart01", "badinv01", "clerr", "quotbal",
    ] {
        out.push(Bytes::from(
            std::fs::read(root.join(format!("../shared/vectors/rfc4475/{name}.dat"))).unwrap(),
        ));
    }
    out
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9.!%*_+`'~-]{0,15}"
}

fn value() -> impl Strategy<Value = String> {
    // Header values: printable text without CR/LF; no leading/trailing space (values are trimmed).
    "[!-~]([ -~]{0,40}[!-~])?"
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Bye),
        Just(Method::Options),
        Just(Method::Info),
        token().prop_map(|t| Method::parse(t.as_bytes()))
    ]
}

prop_compose! {
    fn request()(method in method(), user in "[a-z0-9+]{1,12}", host in "[a-z]{1,10}\\.example",
                 headers in proptest::collection::vec((token(), value()), 0..12),
                 body in proptest::collection::vec(any::<u8>(), 0..200)) -> Message {
        let mut b = RequestBuilder::new(method, format!("sip:{user}@{host}").as_bytes())
            .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKprop")
            .header(HeaderName::CallId, "prop@192.0.2.1");
        for (name, value) in &headers {
            // Content-Length is the builder's to write.
            if HeaderName::parse(name.as_bytes()) != HeaderName::ContentLength {
                b = b.raw_header(format!("X-{name}").as_bytes(), value);
            }
        }
        b.body(Bytes::from(body)).build()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn a_built_message_parses_back_to_itself(m in request()) {
        let reparsed = Message::parse(m.to_bytes()).unwrap();
        prop_assert_eq!(reparsed, m);
    }

    #[test]
    fn an_edited_message_serializes_to_what_it_says(m in request(), uri in "[a-z]{1,8}", extra in value()) {
        let mut edited = m.clone();
        edited.push_header_top(HeaderName::Via, Bytes::from_static(b"SIP/2.0/UDP 203.0.113.1;branch=z9hG4bKtop"));
        edited.set_request_uri(Bytes::from(format!("sip:{uri}@agent.example")));
        edited.append_raw_header("X-Extra", Bytes::from(extra.clone()));
        let reparsed = Message::parse(edited.to_bytes()).unwrap();
        prop_assert_eq!(reparsed.top_via().unwrap().host, &b"203.0.113.1"[..]);
        prop_assert_eq!(reparsed.headers(HeaderName::Via).count(), 2);
        prop_assert_eq!(reparsed.header_by_name("x-extra"), Some(extra.as_bytes()));
        let expected_uri = format!("sip:{uri}@agent.example");
        prop_assert_eq!(reparsed.request_uri(), Some(expected_uri.as_bytes()));
        prop_assert_eq!(reparsed.body(), m.body());
        let mut removed = reparsed.clone();
        prop_assert!(removed.remove_first(HeaderName::Via));
        let after = Message::parse(removed.to_bytes()).unwrap();
        prop_assert_eq!(after.top_via().unwrap().host, &b"192.0.2.1"[..]);
    }

    #[test]
    fn e164_normalisation_of_any_text_never_panics(text in "\\PC{0,24}", cc in "[0-9]{1,3}") {
        if let Some(n) = switchboard::sip::e164::normalise(&text, &cc) {
            prop_assert!(n.starts_with('+') && n[1..].bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn truncations_never_panic(index in 0usize..9, cut in 0usize..2000) {
        let raw = &fixtures()[index];
        let cut = cut.min(raw.len());
        exercise(raw.slice(..cut));
    }

    #[test]
    fn byte_flips_never_panic(index in 0usize..9, flips in proptest::collection::vec((0usize..2000, any::<u8>()), 1..8)) {
        let mut raw = fixtures()[index].to_vec();
        for (at, byte) in flips {
            let at = at % raw.len();
            raw[at] = byte;
        }
        exercise(Bytes::from(raw));
    }
}

/// Everything a received message goes through.
fn exercise(raw: Bytes) {
    match Message::parse(raw.clone()) {
        Ok(m) => {
            let _ = (
                m.top_via(),
                m.from(),
                m.to(),
                m.contact(),
                m.cseq(),
                m.max_forwards(),
                m.call_id(),
            );
            if m.is_request() {
                let _ = validate_request(&m);
            }
            let again = Message::parse(m.to_bytes()).expect("a parsed message re-parses");
            assert_eq!(again, m);
        }
        Err(e) => {
            let _ = best_effort_response(&raw, &e);
        }
    }
    let mut framer = StreamFramer::new(4096);
    framer.push(&raw);
    while let Ok(Some(_)) = framer.next_frame() {}
}
