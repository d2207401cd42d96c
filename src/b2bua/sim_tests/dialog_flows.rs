//! Mid-call flows over the same simulated network: hang-up by the agent, re-INVITE and
//! UPDATE from either side, early media with PRACK, in-dialog OPTIONS and REFER, session
//! refresh, and the checks that each side only ever sees us.

use std::time::Duration;

use super::*;

const HOLD_SDP: &[u8] = b"v=0\r\ns=hold\r\na=sendonly\r\n";

/// An answered call, its ACK through, on a clean or lossy link.
fn answered(seed: u64, loss: f64, config: B2buaConfig) -> Net {
    let mut net = Net::new(seed, loss, AgentMode::Answer, config);
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(8));
    assert_eq!(net.carrier.finals, vec![200], "seed {seed}: answered");
    net
}

/// A carrier re-INVITE putting the agent on hold.
fn carrier_hold(net: &mut Net, cseq: u32) {
    let mut reinvite = net.carrier_in_dialog(Method::Invite, cseq);
    reinvite.append_header(HeaderName::Contact, Bytes::from_static(b"<sip:carrier@192.0.2.1:5060>"));
    reinvite.append_header(HeaderName::ContentType, Bytes::from_static(b"application/sdp"));
    reinvite.set_body(Bytes::from_static(HOLD_SDP));
    net.carrier_request(reinvite);
}

#[test]
fn an_answered_call_keeps_no_ring_or_response_timer() {
    let net = answered(19, 0.0, Net::config());
    let (key, _) = net.b2b.calls.find(b"carrier-call-1").unwrap();
    for timer in [CallTimer::Ring, CallTimer::CalleeResponse] {
        assert!(!net.b2b.calls.has_timer(key, timer), "{timer:?} disarmed at the answer");
    }
    assert!(
        net.b2b.calls.has_timer(key, CallTimer::MaxDuration),
        "the duration cap stays"
    );
}

#[test]
fn the_agent_hangs_up_and_both_legs_end() {
    let mut net = answered(20, 0.0, Net::config());
    net.agent_request(Method::Bye, 2, None);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.agent.in_dialog_answers, vec![(Method::Bye, 200)]);
    assert_eq!(net.carrier.byes_received, 1, "the carrier leg gets our BYE");
    let bye = net.carrier.seen.iter().rev().find(|b| b.starts_with(b"BYE")).unwrap();
    let bye = Message::parse(bye.clone()).unwrap();
    assert_eq!(bye.call_id(), Some(&b"carrier-call-1"[..]), "in the carrier's dialog");
    assert_eq!(
        bye.request_uri(),
        Some(&b"sip:carrier@192.0.2.1:5060"[..]),
        "to its Contact"
    );
    assert_eq!(bye.to_tag(), Some(&b"c1"[..]));
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after the agent's BYE");
}

#[test]
fn a_hold_reinvite_from_the_caller_passes_its_sdp_untouched_and_is_acked_end_to_end() {
    let mut net = answered(21, 0.0, Net::config());
    let acks_before = net.agent.acks;
    carrier_hold(&mut net, 2);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Invite, 200)]);
    let relayed = net
        .agent
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .unwrap();
    assert_eq!(relayed.body(), HOLD_SDP, "a=sendonly passes through untouched");
    assert_eq!(relayed.content_type(), Some(&b"application/sdp"[..]));
    assert_eq!(relayed.call_id(), net.agent.invites[0].call_id());
    assert_eq!(net.agent.acks, acks_before + 1, "the carrier's ACK reached the agent");
    assert!(!net.agent.awaiting_ack);
    net.hang_up();
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after hold");
}

#[test]
fn a_reinvite_from_the_agent_reaches_the_caller_and_its_answer_comes_back() {
    let mut net = answered(22, 0.0, Net::config());
    net.agent_request(Method::Invite, 2, Some(HOLD_SDP));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.agent.in_dialog_answers, vec![(Method::Invite, 200)]);
    let relayed = net
        .carrier
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .unwrap();
    assert_eq!(relayed.body(), HOLD_SDP);
    assert_eq!(relayed.call_id(), Some(&b"carrier-call-1"[..]));
    assert_eq!(relayed.request_uri(), Some(&b"sip:carrier@192.0.2.1:5060"[..]));
    assert_eq!(net.carrier.acks, 1, "the agent's ACK was relayed to the carrier");
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.carrier.acks, 1, "and the carrier stopped resending its 2xx");
}

#[test]
fn reinvites_in_both_directions_complete_through_20_percent_loss() {
    for seed in 100..115 {
        let mut net = answered(seed, 0.2, Net::config());
        carrier_hold(&mut net, 2);
        net.run_for(Duration::from_secs(10));
        assert_eq!(
            net.carrier.in_dialog_answers,
            vec![(Method::Invite, 200)],
            "seed {seed}"
        );
        assert!(!net.agent.awaiting_ack, "seed {seed}: the agent got the ACK of its 2xx");
        net.agent_request(Method::Invite, 2, Some(HOLD_SDP));
        net.run_for(Duration::from_secs(10));
        assert_eq!(net.agent.in_dialog_answers, vec![(Method::Invite, 200)], "seed {seed}");
        assert!(net.carrier.unacked_ok.is_none(), "seed {seed}: the carrier got the ACK");
        net.hang_up();
        net.run_for(Duration::from_secs(70));
        net.assert_nothing_left(&format!("seed {seed}"));
    }
}

#[test]
fn update_from_the_agent_reaches_the_caller() {
    let mut net = answered(23, 0.0, Net::config());
    net.agent_request(Method::Update, 2, Some(HOLD_SDP));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.agent.in_dialog_answers, vec![(Method::Update, 200)]);
    let relayed = net
        .carrier
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Update))
        .unwrap();
    assert_eq!(relayed.body(), HOLD_SDP);
    let answer = net
        .agent
        .seen
        .iter()
        .rev()
        .find(|b| b.starts_with(b"SIP/2.0 200"))
        .unwrap();
    assert!(
        Message::parse(answer.clone()).unwrap().body() == AGENT_SDP,
        "the SDP answer came back"
    );
}

#[test]
fn early_media_183_with_100rel_is_relayed_pracked_end_to_end_then_answered() {
    for (seed, loss) in [(30, 0.0), (31, 0.2), (32, 0.2), (33, 0.2)] {
        let mut net = Net::new(seed, loss, AgentMode::EarlyMedia, Net::config());
        net.call(NUMBER, &[(HeaderName::Supported, "100rel")]);
        net.run_for(Duration::from_secs(10));
        assert!(net.carrier.provisionals.contains(&183), "seed {seed}");
        let progress = net.carrier.seen.iter().find(|b| b.starts_with(b"SIP/2.0 183")).unwrap();
        let progress = Message::parse(progress.clone()).unwrap();
        assert_eq!(progress.body(), AGENT_SDP, "seed {seed}: early media SDP relayed");
        assert_eq!(progress.header(HeaderName::Require), Some(&b"100rel"[..]));
        assert_eq!(progress.header(HeaderName::RSeq), Some(&b"1"[..]));
        let prack = net.agent.in_dialog.iter().find(|m| m.method() == Some(&Method::Prack));
        assert_eq!(
            prack.and_then(|p| p.header(HeaderName::RAck)),
            Some(&b"1 1 INVITE"[..]),
            "seed {seed}: the PRACK reached the agent"
        );
        assert_eq!(net.carrier.finals, vec![200], "seed {seed}: then answered");
        net.hang_up();
        net.run_for(Duration::from_secs(70));
        net.assert_nothing_left(&format!("early media seed {seed}"));
    }
}

#[test]
fn in_dialog_options_is_relayed_and_refer_is_relayed_when_configured() {
    let config = B2buaConfig {
        refer: ReferPolicy::Relay,
        ..Net::config()
    };
    let mut net = answered(24, 0.0, config);
    let options = net.carrier_in_dialog(Method::Options, 2);
    net.carrier_request(options);
    net.run_for(Duration::from_secs(1));
    let mut refer = net.carrier_in_dialog(Method::Refer, 3);
    refer.append_header(HeaderName::ReferTo, Bytes::from_static(b"<sip:+15557654321@192.0.2.1>"));
    net.carrier_request(refer);
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.carrier.in_dialog_answers,
        vec![(Method::Options, 200), (Method::Refer, 200)]
    );
    let relayed = net
        .agent
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Refer))
        .unwrap();
    assert_eq!(
        relayed.header(HeaderName::ReferTo),
        Some(&b"<sip:+15557654321@192.0.2.1>"[..])
    );
}

#[test]
fn the_agents_refer_reaches_the_carrier_by_default_and_the_transfers_notify_comes_back() {
    let mut net = answered(30, 0.0, Net::config());
    net.agent_request_with(
        Method::Refer,
        2,
        None,
        &[(HeaderName::ReferTo, "<sip:+15557654321@192.0.2.1>")],
    );
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.agent.in_dialog_answers, vec![(Method::Refer, 200)]);
    let relayed = net
        .carrier
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Refer))
        .expect("the REFER reached the carrier");
    assert_eq!(
        relayed.header(HeaderName::ReferTo),
        Some(&b"<sip:+15557654321@192.0.2.1>"[..])
    );
    let notify = net.carrier_in_dialog(Method::Notify, 2);
    let notify = RequestBuilder::new(Method::Notify, notify.request_uri().unwrap())
        .raw_header(b"Via", notify.header(HeaderName::Via).unwrap())
        .raw_header(b"From", notify.header(HeaderName::From).unwrap())
        .raw_header(b"To", notify.header(HeaderName::To).unwrap())
        .raw_header(b"Call-ID", notify.header(HeaderName::CallId).unwrap())
        .raw_header(b"CSeq", notify.header(HeaderName::CSeq).unwrap())
        .raw_header(b"Max-Forwards", "70")
        .raw_header(b"Event", "refer")
        .raw_header(b"Subscription-State", "terminated;reason=noresource")
        .raw_header(b"Content-Type", "message/sipfrag;version=2.0")
        .body(Bytes::from_static(b"SIP/2.0 200 OK\r\n"))
        .build();
    net.carrier_request(notify);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Notify, 200)]);
    let back = net
        .agent
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Notify))
        .expect("the NOTIFY came back to the agent");
    assert_eq!(back.header(HeaderName::Event), Some(&b"refer"[..]));
    assert_eq!(
        back.header_by_name("Subscription-State"),
        Some(&b"terminated;reason=noresource"[..])
    );
    assert_eq!(back.content_type(), Some(&b"message/sipfrag;version=2.0"[..]));
    assert_eq!(back.body(), b"SIP/2.0 200 OK\r\n");
}

#[test]
fn a_session_refreshed_by_reinvite_outlives_its_first_interval() {
    let mut net = Net::new(25, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[(HeaderName::SessionExpires, "90;refresher=uac")]);
    net.run_for(Duration::from_secs(60));
    let mut refresh = net.carrier_in_dialog(Method::Invite, 2);
    refresh.append_header(HeaderName::SessionExpires, Bytes::from_static(b"90;refresher=uac"));
    net.carrier_request(refresh);
    net.run_for(Duration::from_secs(60));
    assert_eq!(
        net.carrier.byes_received + net.agent.byes_received,
        0,
        "refreshed at 60 s"
    );
    let relayed = net
        .agent
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .unwrap();
    assert_eq!(
        relayed.header(HeaderName::SessionExpires),
        Some(&b"90;refresher=uac"[..])
    );
    net.run_for(Duration::from_secs(35));
    assert_eq!((net.carrier.byes_received, net.agent.byes_received), (1, 1));
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after the refreshed session expired");
}

#[test]
fn neither_side_ever_sees_the_other_sides_addresses_or_call_id() {
    let mut net = Net::new(26, 0.0, AgentMode::EarlyMedia, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(2));
    net.agent_request(Method::Info, 3, None);
    net.run_for(Duration::from_secs(1));
    net.hang_up();
    net.run_for(Duration::from_secs(2));
    let agent_call_id = net.agent.invites[0].call_id().unwrap().to_vec();
    for bytes in &net.carrier.seen {
        let m = Message::parse(bytes.clone()).unwrap();
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("192.0.2.10"),
            "agent address leaked to the carrier:\n{text}"
        );
        assert!(m.call_id() != Some(&agent_call_id[..]));
        assert!(m.headers(HeaderName::RecordRoute).next().is_none());
    }
    for bytes in &net.agent.seen {
        let m = Message::parse(bytes.clone()).unwrap();
        assert!(m.call_id() != Some(&b"carrier-call-1"[..]));
        let carrier_via = m
            .headers(HeaderName::Via)
            .any(|v| v.windows(10).any(|w| w == b"192.0.2.1:"));
        let carrier_contact = m
            .header(HeaderName::Contact)
            .is_some_and(|c| c.windows(8).any(|w| w == b"carrier@"));
        assert!(!carrier_via && !carrier_contact, "carrier topology leaked to the agent");
    }
}

#[test]
fn max_forwards_zero_gets_483_and_every_diversion_is_carried_in_order() {
    let mut net = Net::new(27, 0.0, AgentMode::Answer, Net::config());
    net.carrier.invite = None;
    let mut invite = {
        net.call(NUMBER, &[]);
        net.link.clear();
        net.carrier.invite.take().unwrap()
    };
    invite.set_header(HeaderName::MaxForwards, Bytes::from_static(b"0"));
    net.carrier.invite = Some(invite.clone());
    net.send(net.b2b_addr(), invite.to_bytes());
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![483]);
    assert!(net.agent.invites.is_empty());

    let mut net = Net::new(28, 0.0, AgentMode::Answer, Net::config());
    net.call(
        NUMBER,
        &[(HeaderName::Diversion, "<sip:+15550000002@192.0.2.1>;reason=no-answer")],
    );
    net.run_for(Duration::from_secs(1));
    let carried: Vec<&[u8]> = net.agent.invites[0].headers(HeaderName::Diversion).collect();
    assert_eq!(
        carried,
        vec![
            &b"<sip:+15559876543@192.0.2.1>;reason=unconditional"[..],
            &b"<sip:+15550000002@192.0.2.1>;reason=no-answer"[..],
        ]
    );
}

#[test]
fn a_transport_error_toward_the_agent_answers_the_caller_at_once() {
    let mut net = Net::new(29, 0.0, AgentMode::Dead, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_millis(100));
    assert!(net.carrier.finals.is_empty());
    let agent = Peer {
        addr: agent_addr(),
        transport: Transport::Udp,
        connection: None,
    };
    net.b2b.handle_transport_error(net.now, agent);
    net.pump_b2b();
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.carrier.finals, vec![503]);
    let failure = net.carrier.seen.iter().find(|b| b.starts_with(b"SIP/2.0 503")).unwrap();
    let failure = Message::parse(failure.clone()).unwrap();
    assert_eq!(failure.header(HeaderName::RetryAfter), Some(&b"30"[..]));
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after a transport error");
}

#[test]
fn a_refresh_below_our_min_se_gets_422_with_min_se_and_the_call_goes_on() {
    let mut net = answered(40, 0.0, Net::config());
    let mut refresh = net.carrier_in_dialog(Method::Update, 2);
    refresh.append_header(HeaderName::SessionExpires, Bytes::from_static(b"30"));
    net.carrier_request(refresh);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Update, 422)]);
    let answer = net.carrier.seen.iter().find(|b| b.starts_with(b"SIP/2.0 422")).unwrap();
    let answer = Message::parse(answer.clone()).unwrap();
    assert_eq!(answer.header(HeaderName::MinSe), Some(&b"90"[..]));
    assert!(net.agent.in_dialog.is_empty(), "not relayed");
    assert_eq!(net.b2b.active_calls(), 1);
}

#[test]
fn crossing_reinvites_get_491_for_the_second_one() {
    let mut net = answered(41, 0.0, Net::config());
    carrier_hold(&mut net, 2);
    net.agent_request(Method::Invite, 2, Some(HOLD_SDP));
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Invite, 200)]);
    assert_eq!(net.agent.in_dialog_answers, vec![(Method::Invite, 491)]);
    net.hang_up();
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after glare");
}

#[test]
fn requests_on_each_leg_carry_a_via_naming_that_legs_transport() {
    let mut net = Net::new(42, 0.0, AgentMode::Answer, Net::config());
    net.carrier_transport = Transport::Tcp;
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(2));
    net.agent_request(Method::Bye, 2, None);
    net.run_for(Duration::from_secs(1));
    let bye = net.carrier.seen.iter().find(|b| b.starts_with(b"BYE")).unwrap();
    let bye = Message::parse(bye.clone()).unwrap();
    assert_eq!(bye.top_via().unwrap().transport, b"TCP", "RFC 3261 §18.1.1");
    assert_eq!(net.agent.invites[0].top_via().unwrap().transport, b"UDP");
}

#[test]
fn a_tls_carrier_gets_our_tls_address_in_via_and_a_contact_naming_tls() {
    let config = B2buaConfig {
        advertised_tls: Some("192.0.2.5:5061".into()),
        ..Net::config()
    };
    let mut net = Net::new(43, 0.0, AgentMode::Answer, config);
    net.carrier_transport = Transport::Tls;
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(2));
    let ok = net.carrier.seen.iter().find(|b| b.starts_with(b"SIP/2.0 200")).unwrap();
    let ok = Message::parse(ok.clone()).unwrap();
    assert_eq!(
        ok.header(HeaderName::Contact),
        Some(&b"<sip:switchboard@192.0.2.5:5061;transport=tls>"[..])
    );
    net.agent_request(Method::Bye, 2, None);
    net.run_for(Duration::from_secs(1));
    let bye = net.carrier.seen.iter().find(|b| b.starts_with(b"BYE")).unwrap();
    let bye = Message::parse(bye.clone()).unwrap();
    let via = bye.top_via().unwrap();
    assert_eq!((via.transport, via.sent_by), (&b"TLS"[..], &b"192.0.2.5:5061"[..]));
    let agent_contact = net.agent.invites[0].header(HeaderName::Contact);
    assert_eq!(
        agent_contact,
        Some(&b"<sip:switchboard@192.0.2.5:5060>"[..]),
        "the agent leg is UDP"
    );
}

#[test]
fn a_reinvite_from_the_caller_puts_the_agent_on_hold_and_its_ack_follows() {
    let mut net = Net::new(17, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let acks_before = net.agent.acks;
    let hold = Bytes::from_static(b"v=0\r\ns=-\r\na=sendonly\r\n");
    let mut reinvite = net.carrier_in_dialog(Method::Invite, 2);
    reinvite.append_header(HeaderName::ContentType, Bytes::from_static(b"application/sdp"));
    reinvite.set_body(hold.clone());
    net.carrier_request(reinvite);
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Invite, 200)]);
    let relayed = net
        .agent
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("the re-INVITE reached the agent");
    assert_eq!(relayed.body(), &hold[..], "a=sendonly passes through untouched");
    assert_eq!(relayed.to_tag(), Some(&b"a1"[..]));
    assert_eq!(relayed.cseq().unwrap().seq, 2);
    // The scripted carrier ACKed the 2xx itself; a repeat of that ACK is not relayed twice.
    let ack = net.carrier_in_dialog(Method::Ack, 2);
    net.send(net.b2b_addr(), ack.to_bytes());
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.agent.acks, acks_before + 1, "the re-INVITE's ACK is relayed once");
}

#[test]
fn a_reinvite_the_agent_never_answers_gets_408_and_the_next_one_goes_through() {
    let mut net = answered(44, 0.0, Net::config());
    net.agent.deaf_in_dialog = true;
    carrier_hold(&mut net, 2);
    net.run_for(Duration::from_secs(40));
    assert_eq!(
        net.carrier.in_dialog_answers,
        vec![(Method::Invite, 408)],
        "Timer B, then 408"
    );
    net.agent.deaf_in_dialog = false;
    carrier_hold(&mut net, 3);
    net.run_for(Duration::from_secs(2));
    assert_eq!(
        net.carrier.in_dialog_answers,
        vec![(Method::Invite, 408), (Method::Invite, 200)],
        "not 491: the timed-out offer is over"
    );
}
