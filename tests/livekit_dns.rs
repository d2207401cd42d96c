//! The LiveKit host moves in DNS (issue 18): calls follow it once the TTL passes, without a
//! restart. A DNS server played by the test answers `livekit.test` with a 1 s TTL; SIPp as
//! the LiveKit agent answers on 127.0.0.61, then (after the record changes) on 127.0.0.62,
//! the same port; SIPp as the carrier calls from 127.0.0.1. The second call must reach the
//! second agent (nothing listens on the first any more), on the same server process.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::dns::TestDns;

const NUMBER: &str = "+15551234567";
const FIRST: &str = "127.0.0.61";
const SECOND: &str = "127.0.0.62";

#[test]
fn calls_follow_the_livekit_host_to_its_new_address_once_the_ttl_passes() {
    let dns = TestDns::start("livekit.test", FIRST.parse().unwrap(), false);
    let agent_port = common::free_port();
    let server = common::Server::start(&format!(
        "[routing]\nlivekit_host = \"livekit.test:{agent_port}\"\n\
         [resolver]\nnameservers = [\"{}\"]\nmin_ttl_secs = 1\n",
        dns.addr
    ));
    let pid = server.child.id();
    let carrier = common::scenario("carrier-call.xml");

    let first = common::Agent::start_at("agent-answer.xml", FIRST, agent_port, 1, "u1");
    common::carrier(&server, &carrier, NUMBER, 1, 1);
    first.finish(&server);

    *dns.ip.lock().unwrap() = SECOND.parse::<Ipv4Addr>().unwrap();
    std::thread::sleep(Duration::from_millis(2000));

    let second = common::Agent::start_at("agent-answer.xml", SECOND, agent_port, 1, "u1");
    common::carrier(&server, &carrier, NUMBER, 1, 1);
    second.finish(&server);
    assert_eq!(server.child.id(), pid, "the same process: no restart");
    assert!(
        server.log_text().contains("host moved"),
        "the move is logged:\n{}",
        server.log_text()
    );
}
