//! Memory per active call, counted by the allocator: 20,000 answered calls held open in the
//! B2BUA (carrier INVITE in, agent 200, carrier ACK), then the live heap divided by the
//! calls. Deterministic (bytes, not time), so it can be a test; the target is 4 KiB a call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use switchboard::b2bua::{Arrival, B2bua, B2buaConfig, Peer};
use switchboard::routing::{AgentTarget, Decision, Query, RouteKind, RouteRequest, Router};
use switchboard::sip::{response_for, HeaderName, Message, Method, RequestBuilder};
use switchboard::transport::Transport;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct OneAgent;

impl Router for OneAgent {
    fn route(&self, _: &RouteRequest<'_>) -> Decision {
        Decision::Agent(Box::new(AgentTarget {
            agent_id: "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11".into(),
            agent_version: 1,
            agent_version_id: "v1".into(),
            org_id: "org".into(),
            trunk_id: "trunk".into(),
            livekit_host: "livekit.test".into(),
            destination: "192.0.2.10:5090".parse().unwrap(),
            transport: switchboard::transport::Transport::Udp,
            kind: RouteKind::Static,
            headers: vec![],
        }))
    }
}

fn carrier_invite(i: usize) -> Message {
    let raw = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/carrier-invite.sip")).unwrap();
    let raw = raw
        .replace("z9hG4bK7c4a1e2f3b5d", &format!("z9hG4bKmem{i}"))
        .replace("1f2d7c3e-4b5a-11ef-9e2b-0242ac120002", &format!("mem-{i}"));
    Message::parse(Bytes::from(raw)).unwrap()
}

#[test]
fn an_answered_call_holds_under_4_kib() {
    const CALLS: usize = 20_000;
    let carrier = Peer {
        addr: "198.51.100.20:5060".parse().unwrap(),
        transport: Transport::Udp,
        connection: None,
    };
    let agent = Peer {
        addr: "192.0.2.10:5090".parse().unwrap(),
        transport: Transport::Udp,
        connection: None,
    };
    let mut b2b = B2bua::new(
        B2buaConfig {
            advertised: "203.0.113.10:5060".into(),
            ..B2buaConfig::default()
        },
        1,
    );
    let mut now = switchboard::clock::now();
    // Warm up the tables' first allocations, then measure from a settled baseline.
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..CALLS {
        b2b.handle_request(now, carrier_invite(i), carrier, Arrival::in_country("1"));
        while let Some(route) = b2b.poll_route() {
            let Query::Inbound(facts) = &route.facts else {
                panic!("only inbound calls here")
            };
            let decision = OneAgent.route(&facts.request(std::time::SystemTime::UNIX_EPOCH));
            b2b.handle_routed(now, route.call, decision);
        }
        let mut agent_invite = None;
        while let Some(t) = b2b.poll_transmit() {
            if t.to == agent {
                agent_invite = Some(Message::parse(t.bytes).unwrap());
            }
        }
        let agent_invite = agent_invite.expect("the agent leg went out");
        let ok = response_for(&agent_invite, 200, "OK")
            .to_tag("a1")
            .header(HeaderName::Contact, "<sip:agent@192.0.2.10:5090>")
            .build();
        b2b.handle_response(now, ok);
        let mut carrier_ok = None;
        while let Some(t) = b2b.poll_transmit() {
            if t.to == carrier {
                carrier_ok = Message::parse(t.bytes).ok().filter(|m| m.status() == Some(200));
            }
        }
        let tag = carrier_ok
            .expect("the 200 reached the carrier")
            .to()
            .unwrap()
            .tag
            .map(<[u8]>::to_vec)
            .unwrap();
        let ack = RequestBuilder::new(Method::Ack, b"sip:switchboard@203.0.113.10:5060")
            .header(
                HeaderName::Via,
                format!("SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKack{i}"),
            )
            .header(
                HeaderName::From,
                "<sip:+14155550100@198.51.100.20:5060>;tag=a94c1f0e-13c4-5e",
            )
            .header(
                HeaderName::To,
                format!("<sip:+15551234567@203.0.113.10>;tag={}", String::from_utf8_lossy(&tag)),
            )
            .header(HeaderName::CallId, format!("mem-{i}@198.51.100.20"))
            .header(HeaderName::CSeq, "101 ACK")
            .build();
        b2b.handle_request(now, ack, carrier, Arrival::in_country("1"));
        while b2b.poll_transmit().is_some() {}
        while b2b.poll_event().is_some() {}
    }
    // Let every transaction of the set-up finish (Timers K, L, M...), so what is left is
    // the calls themselves.
    now += Duration::from_secs(60);
    b2b.handle_timeout(now);
    while b2b.poll_transmit().is_some() {}
    assert_eq!(b2b.active_calls(), CALLS);
    assert_eq!(b2b.transactions(), 0);
    let per_call = (LIVE.load(Ordering::Relaxed) - before) as f64 / CALLS as f64;
    println!("memory per answered call: {per_call:.0} bytes");
    assert!(per_call < 4096.0, "{per_call:.0} bytes per call");
}
