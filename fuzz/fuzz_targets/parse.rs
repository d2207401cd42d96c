//! Everything a received datagram or stream goes through in the SIP core: parse, typed
//! reads, validation, the best-effort error response, re-serialization, stream framing.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard::sip::{best_effort_response, validate_request, Message, StreamFramer};

fuzz_target!(|data: &[u8]| {
    let raw = Bytes::copy_from_slice(data);
    match Message::parse(raw.clone()) {
        Ok(m) => {
            let _ = (m.top_via(), m.from(), m.to(), m.contact(), m.cseq(), m.max_forwards());
            if m.is_request() {
                let _ = validate_request(&m);
            }
            let again = Message::parse(m.to_bytes()).expect("a parsed message re-parses");
            assert_eq!(again, m);
        }
        Err(e) => {
            let _ = best_effort_response(data, &e);
        }
    }
    let mut framer = StreamFramer::new(8192);
    framer.push(data);
    while let Ok(Some(_)) = framer.next_frame() {}
});
