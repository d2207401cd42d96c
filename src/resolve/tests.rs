//! The resolver against a DNS server played by the test (hickory-proto builds its answers):
//! TTLs honoured, a moved host followed, SRV used when no port is written.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::*;

#[path = "../../tests/common/dns.rs"]
mod dns;
use dns::TestDns;

fn resolver(dns: &TestDns, runtime: &tokio::runtime::Runtime) -> Resolver {
    let config = ResolverConfig {
        nameservers: vec![dns.addr],
        min_ttl_secs: 1,
        ..ResolverConfig::default()
    };
    Resolver::new(&config, runtime.handle().clone())
}

fn host(name: &str, port: Option<u16>) -> HostName<'_> {
    HostName {
        name,
        port,
        transport: Transport::Udp,
    }
}

#[test]
fn a_moved_host_is_followed_once_its_ttl_passes_without_waiting_on_the_call_path() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dns = TestDns::start("lk.test", Ipv4Addr::new(127, 0, 0, 61), false);
    let resolver = resolver(&dns, &runtime);
    let first = resolver.lookup(&host("lk.test", Some(5090)));
    assert_eq!(
        first,
        Some("127.0.0.61:5090".parse().unwrap()),
        "the first lookup waits for its answer"
    );
    *dns.ip.lock().unwrap() = Ipv4Addr::new(127, 0, 0, 62);
    assert_eq!(resolver.lookup(&host("lk.test", Some(5090))), first, "within the TTL");
    std::thread::sleep(Duration::from_millis(1600));
    // Past the TTL a lookup still answers with what is known while the refresh runs in the
    // background, and the moved address arrives (10 s: a loaded machine may be slow to run
    // the refresh, but the answer never waits for it).
    let deadline = Instant::now() + Duration::from_secs(10);
    let moved = Some("127.0.0.62:5090".parse().unwrap());
    loop {
        let now = resolver.lookup(&host("lk.test", Some(5090)));
        assert!(now == first || now == moved, "a known host always answers: {now:?}");
        if now == moved {
            break;
        }
        assert!(Instant::now() < deadline, "the moved host was never followed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Answered from memory: lookups on the call path do not each ask the DNS server.
    let asked = || {
        dns.queries
            .lock()
            .unwrap()
            .iter()
            .filter(|q| q.ends_with("lk.test."))
            .count()
    };
    let before = asked();
    for _ in 0..500 {
        assert_eq!(resolver.lookup(&host("lk.test", Some(5090))), moved);
    }
    assert!(asked() - before <= 4, "{} queries for 500 lookups", asked() - before);
}

#[test]
fn a_host_without_a_port_is_found_by_srv() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dns = TestDns::start("carrier.test", Ipv4Addr::new(127, 0, 0, 63), true);
    let resolver = resolver(&dns, &runtime);
    assert_eq!(
        resolver.lookup(&host("carrier.test", None)),
        Some("127.0.0.63:5080".parse().unwrap()),
        "RFC 3263 §4.2: SRV's target and port"
    );
    assert!(dns
        .queries
        .lock()
        .unwrap()
        .iter()
        .any(|q| q.starts_with("SRV _sip._udp.carrier.test")));
}

#[test]
fn unknown_names_are_none_and_literals_need_no_dns() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dns = TestDns::start("lk.test", Ipv4Addr::new(127, 0, 0, 61), false);
    let resolver = resolver(&dns, &runtime);
    assert_eq!(resolver.lookup(&host("nowhere.test", Some(5060))), None);
    assert_eq!(
        resolver.lookup(&host("192.0.2.7", None)),
        Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 5060))
    );
    resolver.want([Wanted {
        name: "lk.test".into(),
        port: None,
        transport: Transport::Udp,
    }]);
    assert_eq!(resolver.known(), 2, "the unknown name and the wanted one; no literal");
}

#[test]
fn a_peek_never_waits_for_a_first_answer_and_sees_it_once_it_has_come() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dns = TestDns::start("lk.test", Ipv4Addr::new(127, 0, 0, 61), false);
    let resolver = resolver(&dns, &runtime);
    assert_eq!(
        resolver.peek(&host("192.0.2.7", Some(5070))),
        Some("192.0.2.7:5070".parse().unwrap()),
        "a literal is its own answer"
    );
    assert_eq!(
        resolver.peek(&host("lk.test", Some(5090))),
        None,
        "never seen: no answer yet, and no wait"
    );
    // The peek started the lookup; the answer arrives in the background (10 s: a loaded
    // machine may be slow to run it).
    let deadline = Instant::now() + Duration::from_secs(10);
    while resolver.peek(&host("lk.test", Some(5090))).is_none() {
        assert!(Instant::now() < deadline, "the peeked name was never resolved");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        resolver.peek(&host("lk.test", Some(5090))),
        Some("127.0.0.61:5090".parse().unwrap())
    );
}
