//! Parse and serialize of a realistic carrier INVITE (fixtures/carrier-invite.sip): our
//! parser against rsip 0.4 on the same bytes, in the same run, and the cost of the edits a
//! B2BUA makes to a message before forwarding it.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use switchboard::sip::{HeaderName, Message};

fn fixture() -> Bytes {
    Bytes::from(
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/carrier-invite.sip")).expect("fixture INVITE"),
    )
}

fn parse(c: &mut Criterion) {
    let raw = fixture();
    let mut group = c.benchmark_group("parse_carrier_invite");
    group.bench_function("switchboard", |b| {
        b.iter(|| Message::parse(black_box(raw.clone())).unwrap())
    });
    group.bench_function("switchboard_with_typed_reads", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(raw.clone())).unwrap();
            let via = m.top_via().unwrap();
            let cseq = m.cseq().unwrap();
            let to = m.to().unwrap();
            black_box((via.branch, cseq.seq, to.uri.user, m.call_id(), m.from().unwrap().tag));
        })
    });
    group.bench_function("rsip", |b| {
        b.iter(|| rsip::SipMessage::try_from(black_box(&raw[..])).unwrap())
    });
    group.finish();
}

fn serialize(c: &mut Criterion) {
    let raw = fixture();
    let parsed = Message::parse(raw.clone()).unwrap();
    let mut group = c.benchmark_group("serialize_edited_invite");
    group.bench_function("switchboard", |b| {
        b.iter(|| {
            let mut m = parsed.clone();
            m.push_header_top(
                HeaderName::Via,
                Bytes::from_static(b"SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKsb1"),
            );
            m.set_request_uri(Bytes::from_static(
                b"sip:0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11@livekit.example:5060",
            ));
            m.remove_first(HeaderName::Route);
            black_box(m.to_bytes())
        })
    });
    let rsip_parsed = rsip::SipMessage::try_from(&raw[..]).unwrap();
    group.bench_function("rsip", |b| {
        b.iter(|| {
            let mut m = rsip_parsed.clone();
            if let rsip::SipMessage::Request(r) = &mut m {
                r.headers.unique_push(rsip::Header::Via(
                    "SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKsb1".into(),
                ));
                r.uri = rsip::Uri::try_from("sip:0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11@livekit.example:5060").unwrap();
            }
            black_box(m.to_string())
        })
    });
    group.finish();
}

criterion_group!(benches, parse, serialize);
criterion_main!(benches);
