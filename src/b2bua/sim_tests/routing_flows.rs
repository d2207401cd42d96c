//! A new call while the shell routes it (`awaiting_route.rs`): the router's decision may
//! come late, or never; the caller may CANCEL meanwhile or retransmit its INVITE. Each
//! way the caller gets exactly one final answer and nothing is left behind.

use std::time::Duration;

use super::*;

/// A call whose route is held (the router is slow): the carrier has its 100 and waits.
fn routing_call(seed: u64) -> Net {
    let mut net = Net::new(seed, 0.0, AgentMode::Answer, Net::config());
    net.hold_routes = true;
    net.carrier_id = Some(CarrierId {
        org_id: "org_gate".into(),
        trunk_id: Some("trk_gate".into()),
    });
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_millis(600));
    assert_eq!(net.held.len(), 1, "one route asked for, whatever the retransmissions");
    assert!(
        net.carrier.provisionals.iter().all(|s| *s == 100),
        "100, resent per INVITE"
    );
    assert!(net.carrier.finals.is_empty());
    assert_eq!(net.b2b.active_calls(), 1, "a call being routed counts");
    net
}

/// Decide a held route now, with the table.
fn decide(net: &mut Net, route: Route) {
    let decision = Table.route(&inbound_facts(&route).request(std::time::SystemTime::UNIX_EPOCH));
    net.b2b.handle_routed(net.now, route.call, decision);
    net.pump_b2b();
}

#[test]
fn a_route_decided_later_places_the_agent_leg_and_the_call_is_answered() {
    let mut net = routing_call(41);
    let facts = inbound_facts(&net.held[0]);
    assert_eq!(facts.called, NUMBER);
    assert_eq!(facts.caller, "+14155550100");
    assert_eq!(facts.caller_name.as_deref(), Some("Caller"));
    assert!(net.agent.invites.is_empty(), "no agent leg before the route");
    let route = net.held.remove(0);
    decide(&mut net, route);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![200]);
    assert_eq!(net.agent.invites.len(), 1);
    net.hang_up();
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after a late route");
}

#[test]
fn cancel_while_routing_gets_487_and_the_late_decision_is_dropped() {
    let mut net = routing_call(42);
    let invite = net.carrier.invite.clone().unwrap();
    let cancel = super::relay::cancel_for(&invite);
    net.send(net.b2b_addr(), cancel.to_bytes());
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![487]);
    let cancel_ok = |m: &Bytes| {
        let m = Message::parse(m.clone()).unwrap();
        m.status() == Some(200) && m.cseq().unwrap().method == Method::Cancel
    };
    assert!(net.carrier.seen.iter().any(cancel_ok), "200 to the CANCEL");
    let route = net.held.remove(0);
    decide(&mut net, route);
    net.run_for(Duration::from_secs(1));
    assert!(net.agent.invites.is_empty(), "a cancelled call places no agent leg");
    assert_eq!(net.carrier.finals, vec![487]);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after CANCEL while routing");
    let Some(CallEvent::Ended {
        outcome: Outcome::Canceled,
        status: 487,
        ended_by: EndedBy::Carrier,
        facts,
        ..
    }) = net.events.last()
    else {
        panic!("the call ends cancelled by the caller: {:?}", net.events.last());
    };
    assert_eq!(
        facts.carrier_id.as_ref().and_then(|c| c.trunk_id.as_deref()),
        Some("trk_gate"),
        "the record keeps the gate's trunk"
    );
    assert_eq!(facts.called.as_deref(), Some(NUMBER));
}

#[test]
fn a_router_that_never_decides_ends_in_503_at_the_route_deadline() {
    let mut net = routing_call(43);
    net.run_for(Duration::from_millis(1000));
    assert!(net.carrier.finals.is_empty(), "still within route_timeout_ms (2 s)");
    net.run_for(Duration::from_millis(600));
    assert_eq!(net.carrier.finals, vec![503]);
    let route = net.held.remove(0);
    decide(&mut net, route);
    net.run_for(Duration::from_secs(40));
    assert!(net.agent.invites.is_empty(), "the late decision is dropped");
    net.assert_nothing_left("after the route deadline");
}

#[test]
fn a_second_invite_branch_while_routing_is_a_merged_request() {
    let mut net = routing_call(44);
    let mut again = net.carrier.invite.clone().unwrap();
    let via = b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcarrier2;rport";
    again.set_header(HeaderName::Via, Bytes::from_static(via));
    let b2b = net.b2b_addr();
    net.send(b2b, again.to_bytes());
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.held.len(), 1, "no second route");
    assert!(net.carrier.seen.iter().any(|m| m.starts_with(b"SIP/2.0 482")));
}
