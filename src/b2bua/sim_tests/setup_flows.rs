//! Call setup and teardown over the simulated network: answer and hang-up, loss, every
//! way a call fails before it is answered (busy, no answer, dead agent, CANCEL, refusals,
//! limits, loops), and the session-timer and duration caps.

use std::time::Duration;

use super::*;

#[test]
fn a_call_is_answered_and_the_caller_hangs_up_cleanly() {
    let mut net = Net::new(1, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![200]);
    assert!(net.carrier.provisionals.contains(&180));
    assert_eq!(net.agent.invites.len(), 1);
    assert!(net.agent.acks >= 1, "the agent's 2xx was ACKed");
    let invite = &net.agent.invites[0];
    assert_eq!(
        invite.request_uri(),
        Some(&b"sip:0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11@livekit.test"[..])
    );
    assert_ne!(
        invite.call_id(),
        Some(&b"carrier-call-1"[..]),
        "a new Call-ID on the agent leg"
    );
    assert_eq!(
        invite.header(HeaderName::PAssertedIdentity),
        Some(&b"<sip:+14155550100@192.0.2.1>"[..])
    );
    assert!(invite.header(HeaderName::Diversion).is_some());
    assert_eq!(invite.header_by_name("X-Carrier-Ref"), Some(&b"abc"[..]));
    assert_eq!(invite.header_by_name("X-Switchboard-Route"), Some(&b"static"[..]));
    assert_eq!(invite.header_by_name("X-Switchboard-Called"), Some(NUMBER.as_bytes()));
    assert_eq!(invite.header_by_name("X-Switchboard-Agent-Version"), Some(&b"3"[..]));
    assert_eq!(invite.max_forwards().unwrap(), Some(69));
    assert_eq!(invite.body(), b"v=0\r\ns=-\r\n", "SDP passes through unchanged");
    assert!(
        invite
            .headers(HeaderName::Via)
            .all(|v| !v.starts_with(b"SIP/2.0/UDP 192.0.2.1")),
        "topology hidden"
    );
    net.hang_up();
    net.run_for(Duration::from_secs(1));
    assert!(net.carrier.bye_answered);
    assert_eq!(net.agent.byes_received, 1);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after hang-up");
    // The call's record travels in its last event: who called whom, the agent, the times.
    let Some(CallEvent::Ended {
        outcome: Outcome::Answered,
        status: 200,
        ended_by: EndedBy::Carrier,
        facts,
        ..
    }) = net.events.last()
    else {
        panic!("the call ends answered, hung up by the caller: {:?}", net.events.last());
    };
    assert_eq!(facts.source, carrier_addr());
    assert_eq!(facts.called.as_deref(), Some(NUMBER));
    assert_eq!(facts.caller.as_deref(), Some("+14155550100"));
    let target = facts.target.as_ref().expect("an agent was chosen");
    assert_eq!((target.org_id.as_str(), target.trunk_id.as_str()), ("org-1", "trunk-1"));
    assert_eq!(target.agent_version_id, "ver-3");
    let (rang, answered) = (facts.first_provisional.unwrap(), facts.answered.unwrap());
    assert!(facts.started <= rang && rang <= answered, "{facts:?}");
}

#[test]
fn calls_complete_through_20_percent_loss_in_both_directions() {
    for seed in 0..30 {
        let mut net = Net::new(seed, 0.2, AgentMode::Answer, Net::config());
        net.call(NUMBER, &[]);
        net.run_for(Duration::from_secs(8));
        assert_eq!(net.carrier.finals, vec![200], "seed {seed}");
        assert_eq!(
            net.agent.invites.len(),
            1,
            "seed {seed}: one agent leg however often the INVITE came"
        );
        net.hang_up();
        net.run_for(Duration::from_secs(8));
        assert!(net.carrier.bye_answered, "seed {seed}: the caller's BYE was answered");
        assert!(net.agent.byes_received >= 1, "seed {seed}: the agent got the BYE");
        net.run_for(Duration::from_secs(60));
        net.assert_nothing_left(&format!("seed {seed}"));
    }
}

#[test]
fn session_timer_expiry_ends_both_legs_with_bye() {
    let mut net = Net::new(2, 0.0, AgentMode::Answer, Net::config());
    net.call(
        NUMBER,
        &[
            (HeaderName::SessionExpires, "90;refresher=uac"),
            (HeaderName::Supported, "timer"),
        ],
    );
    net.run_for(Duration::from_secs(89));
    assert_eq!(net.carrier.byes_received + net.agent.byes_received, 0);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.byes_received, 1, "the carrier leg is ended");
    assert_eq!(net.agent.byes_received, 1, "the agent leg is ended");
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after session expiry");
}

#[test]
fn a_session_expires_below_our_minimum_gets_422_with_min_se() {
    let mut net = Net::new(3, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[(HeaderName::SessionExpires, "30")]);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![422]);
    assert!(net.agent.invites.is_empty());
}

#[test]
fn a_busy_agent_passes_486_through_and_leaves_nothing() {
    let mut net = Net::new(4, 0.0, AgentMode::Busy, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![486]);
    assert!(net.agent.acks >= 1, "the agent's 486 was ACKed");
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after 486");
}

#[test]
fn the_ring_timeout_cancels_the_agent_and_answers_the_caller() {
    let config = B2buaConfig {
        ring_timeout_secs: 5,
        agent_response_timeout_secs: 30,
        ..Net::config()
    };
    let mut net = Net::new(5, 0.0, AgentMode::Ring, config);
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(4));
    assert!(net.carrier.finals.is_empty(), "still ringing");
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![480]);
    assert_eq!(net.agent.cancels, 1);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after ring timeout");
}

#[test]
fn a_dead_agent_gives_503_with_retry_after_in_seconds_not_a_ringing_forever() {
    let mut net = Net::new(6, 0.0, AgentMode::Dead, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.carrier.finals, vec![503]);
    net.run_for(Duration::from_secs(60));
    net.assert_nothing_left("after a dead agent");
}

#[test]
fn the_caller_cancels_while_ringing_and_gets_487() {
    let mut net = Net::new(7, 0.0, AgentMode::Ring, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let invite = net.carrier.invite.clone().unwrap();
    let cancel = super::relay::cancel_for(&invite);
    net.send(net.b2b_addr(), cancel.to_bytes());
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![487]);
    assert_eq!(net.agent.cancels, 1);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after CANCEL");
}

#[test]
fn unknown_numbers_get_404_and_unassigned_ones_480_with_a_reason() {
    for (dialed, status) in [("+15550009999", 404), ("+15550000480", 480)] {
        let mut net = Net::new(8, 0.0, AgentMode::Answer, Net::config());
        net.call(dialed, &[]);
        net.run_for(Duration::from_secs(1));
        assert_eq!(net.carrier.finals, vec![status], "{dialed}");
        assert!(net.agent.invites.is_empty());
        let Some(CallEvent::Ended {
            status: ended, facts, ..
        }) = net.events.last()
        else {
            panic!("a refused call ends at once: {:?}", net.events);
        };
        assert_eq!(*ended, status);
        assert_eq!(facts.called.as_deref(), Some(dialed), "kept to attribute the refusal");
        assert_eq!(facts.target, None);
        assert_eq!((facts.first_provisional, facts.answered), (None, None));
        net.run_for(Duration::from_secs(40));
        net.assert_nothing_left(dialed);
    }
}

#[test]
fn a_request_that_names_no_phone_number_gets_484_address_incomplete() {
    for dialed in ["alice", "+1555"] {
        let mut net = Net::new(8, 0.0, AgentMode::Answer, Net::config());
        net.call(dialed, &[]);
        net.run_for(Duration::from_secs(1));
        assert_eq!(net.carrier.finals, vec![484], "{dialed}");
        assert!(net.agent.invites.is_empty());
        net.run_for(Duration::from_secs(40));
        net.assert_nothing_left(dialed);
    }
}

#[test]
fn draining_and_the_call_cap_answer_503() {
    let mut net = Net::new(9, 0.0, AgentMode::Answer, Net::config());
    net.b2b.start_draining();
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![503]);

    let mut net = Net::new(
        10,
        0.0,
        AgentMode::Answer,
        B2buaConfig {
            max_calls: 0,
            ..Net::config()
        },
    );
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![503]);
}

#[test]
fn the_call_duration_cap_ends_both_legs() {
    let mut net = Net::new(
        11,
        0.0,
        AgentMode::Answer,
        B2buaConfig {
            max_call_duration_secs: 10,
            ..Net::config()
        },
    );
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(11));
    assert_eq!((net.carrier.byes_received, net.agent.byes_received), (1, 1));
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after the duration cap");
}

#[test]
fn a_request_that_looped_back_through_us_gets_482() {
    let mut net = Net::new(12, 0.0, AgentMode::Answer, Net::config());
    net.call(
        NUMBER,
        &[(HeaderName::Via, "SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bKours")],
    );
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![482]);
}

#[test]
fn info_and_update_from_the_caller_reach_the_agent_in_its_dialog_and_their_answers_come_back() {
    let mut net = Net::new(13, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    for (method, cseq) in [(Method::Info, 2), (Method::Update, 3)] {
        let request = net.carrier_in_dialog(method.clone(), cseq);
        net.carrier_request(request);
        net.run_for(Duration::from_millis(200));
    }
    assert_eq!(
        net.carrier.in_dialog_answers,
        vec![(Method::Info, 200), (Method::Update, 200)]
    );
    let agent_call_id = net.agent.invites[0].call_id().unwrap().to_vec();
    for relayed in &net.agent.in_dialog {
        assert_eq!(
            relayed.call_id(),
            Some(&agent_call_id[..]),
            "relayed in the agent's dialog"
        );
        assert_eq!(relayed.to_tag(), Some(&b"a1"[..]), "with the agent's tag");
        assert_eq!(
            relayed.request_uri(),
            Some(&b"sip:agent@192.0.2.10:5090"[..]),
            "to the agent's Contact"
        );
    }
    assert_eq!(
        net.agent
            .in_dialog
            .iter()
            .map(|m| m.method().unwrap().clone())
            .collect::<Vec<_>>(),
        vec![Method::Info, Method::Update]
    );
    // CSeq on the agent leg counts on from our INVITE, whatever the carrier's numbers.
    assert_eq!(net.agent.in_dialog[0].cseq().unwrap().seq, 2);
    assert_eq!(net.agent.in_dialog[1].cseq().unwrap().seq, 3);
}

#[test]
fn refer_is_refused_with_603_when_configured_to_refuse() {
    let config = B2buaConfig {
        refer: ReferPolicy::Refuse,
        ..Net::config()
    };
    let mut net = Net::new(14, 0.0, AgentMode::Answer, config);
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let refer = net.carrier_in_dialog(Method::Refer, 2);
    net.carrier_request(refer);
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Refer, 603)]);
    assert!(net.agent.in_dialog.is_empty());
}

#[test]
fn a_prack_has_its_rack_rewritten_to_the_agent_legs_invite() {
    let mut net = Net::new(15, 0.0, AgentMode::Ring, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let mut prack = net.carrier_in_dialog(Method::Prack, 2);
    // RAck names the carrier leg's INVITE (CSeq 101 here); toward the agent it must name
    // the agent leg's INVITE (CSeq 1).
    prack.append_header(HeaderName::RAck, Bytes::from_static(b"7 101 INVITE"));
    net.carrier_request(prack);
    net.run_for(Duration::from_millis(200));
    let relayed = net
        .agent
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Prack))
        .expect("PRACK relayed");
    assert_eq!(relayed.header(HeaderName::RAck), Some(&b"7 1 INVITE"[..]));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Prack, 200)]);
}

#[test]
fn a_cancelled_agent_leg_that_never_answers_is_given_up_after_64_t1() {
    let mut net = Net::new(16, 0.0, AgentMode::RingDeaf, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let cancel = super::relay::cancel_for(net.carrier.invite.as_ref().unwrap());
    net.send(net.b2b_addr(), cancel.to_bytes());
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![487], "the caller is answered at once");
    assert!(net.agent.cancels >= 1);
    assert_eq!(net.b2b.active_calls(), 1, "the agent leg is still owed an answer");
    net.run_for(Duration::from_secs(70));
    net.assert_nothing_left("after the CANCEL grace period");
}

#[test]
fn a_cancel_crossing_the_agents_200_gets_the_agent_acked_and_byed() {
    let mut net = Net::new(50, 0.0, AgentMode::AnswerOnCancel, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let cancel = super::relay::cancel_for(net.carrier.invite.as_ref().unwrap());
    net.carrier_request(cancel);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![487], "the caller never sees the late 200");
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Cancel, 200)]);
    assert!(net.agent.acks >= 1, "the agent's 200 was ACKed");
    assert_eq!(net.agent.byes_received, 1, "and the agent leg ended at once");
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after CANCEL crossed 200");
}

#[test]
fn cancel_and_agent_hang_up_complete_through_20_percent_loss() {
    for seed in 200..215 {
        let mut net = Net::new(seed, 0.2, AgentMode::Ring, Net::config());
        net.call(NUMBER, &[]);
        // Within the agent response timeout (4 s), after which the call is given up on.
        net.run_for(Duration::from_secs(3));
        let cancel = super::relay::cancel_for(net.carrier.invite.as_ref().unwrap());
        net.carrier_request(cancel);
        net.run_for(Duration::from_secs(10));
        assert_eq!(net.carrier.finals, vec![487], "seed {seed}");
        assert!(net.agent.cancels >= 1, "seed {seed}: the agent leg was cancelled");
        net.run_for(Duration::from_secs(70));
        net.assert_nothing_left(&format!("cancel, seed {seed}"));

        let mut net = Net::new(seed, 0.2, AgentMode::Answer, Net::config());
        net.call(NUMBER, &[]);
        net.run_for(Duration::from_secs(8));
        assert_eq!(net.carrier.finals, vec![200], "seed {seed}");
        net.agent_request(Method::Bye, 2, None);
        net.run_for(Duration::from_secs(10));
        assert_eq!(net.agent.in_dialog_answers, vec![(Method::Bye, 200)], "seed {seed}");
        assert!(net.carrier.byes_received >= 1, "seed {seed}: the carrier got our BYE");
        net.run_for(Duration::from_secs(70));
        net.assert_nothing_left(&format!("agent BYE, seed {seed}"));
    }
}

#[test]
fn a_carrier_that_never_acks_our_200_gets_it_resent_then_both_legs_end_after_64_t1() {
    let mut net = Net::new(51, 0.0, AgentMode::Answer, Net::config());
    net.carrier.never_acks = true;
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(10));
    let oks = net
        .carrier
        .seen
        .iter()
        .filter(|b| b.starts_with(b"SIP/2.0 200"))
        .count();
    assert!(oks >= 4, "our 2xx is resent until the ACK (RFC 3261 §13.3.1.4): {oks}");
    assert_eq!(net.carrier.byes_received, 0);
    net.run_for(Duration::from_secs(25));
    assert!(net.agent.acks >= 1, "the agent's 2xx is ACKed before its BYE");
    assert_eq!((net.carrier.byes_received, net.agent.byes_received), (1, 1));
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after a carrier that never ACKed");
}

#[test]
fn a_bye_from_the_caller_while_ringing_ends_the_call_like_a_cancel() {
    let mut net = Net::new(52, 0.0, AgentMode::Ring, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    net.hang_up();
    net.run_for(Duration::from_secs(1));
    assert!(net.carrier.bye_answered);
    assert_eq!(net.carrier.finals, vec![487], "the INVITE still gets its final answer");
    assert_eq!(net.agent.cancels, 1, "and the agent leg its CANCEL");
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after an early BYE");
}

#[test]
fn a_second_invite_on_a_live_call_id_gets_482_and_the_first_call_goes_on() {
    let mut net = Net::new(53, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let mut merged = net.carrier.invite.clone().unwrap();
    merged.remove_first(HeaderName::Via);
    merged.push_header_top(
        HeaderName::Via,
        Bytes::from_static(b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKother;rport"),
    );
    net.send(net.b2b_addr(), merged.to_bytes());
    net.run_for(Duration::from_secs(1));
    let refused = net
        .carrier
        .seen
        .iter()
        .find(|b| b.starts_with(b"SIP/2.0 482"))
        .expect("482");
    assert!(Message::parse(refused.clone())
        .unwrap()
        .header(HeaderName::Via)
        .unwrap()
        .ends_with(b"z9hG4bKother;rport"));
    assert_eq!(net.agent.invites.len(), 1, "no second agent leg");
    assert_eq!(net.b2b.active_calls(), 1);
    net.hang_up();
    net.run_for(Duration::from_secs(1));
    assert!(
        net.carrier.bye_answered,
        "the first call is still reachable by its Call-ID"
    );
    assert_eq!(net.agent.byes_received, 1);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after a merged request");
}

/// Another call from the carrier, on its own Call-ID and branch.
fn second_invite(net: &Net, call_id: &'static str) -> Message {
    let mut invite = net.carrier.invite.clone().unwrap();
    invite.remove_first(HeaderName::Via);
    invite.push_header_top(
        HeaderName::Via,
        Bytes::from(format!("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{call_id};rport")),
    );
    invite.set_header(HeaderName::CallId, Bytes::from_static(call_id.as_bytes()));
    invite
}

#[test]
fn while_draining_or_at_the_cap_new_calls_get_503_with_retry_after_and_live_calls_go_on() {
    let config = B2buaConfig {
        max_calls: 1,
        ..Net::config()
    };
    let mut net = Net::new(54, 0.0, AgentMode::Answer, config);
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![200]);
    net.send(net.b2b_addr(), second_invite(&net, "over-the-cap").to_bytes());
    net.run_for(Duration::from_secs(1));
    net.b2b.start_draining();
    net.send(net.b2b_addr(), second_invite(&net, "while-draining").to_bytes());
    net.run_for(Duration::from_secs(1));
    let refusals: Vec<Message> = net
        .carrier
        .seen
        .iter()
        .filter(|b| b.starts_with(b"SIP/2.0 503"))
        .map(|b| Message::parse(b.clone()).unwrap())
        .collect();
    let mut call_ids: Vec<&[u8]> = refusals.iter().map(|m| m.call_id().unwrap()).collect();
    call_ids.sort();
    call_ids.dedup(); // Timer G resends each 503 until an ACK that this test never sends.
    assert_eq!(call_ids, vec![&b"over-the-cap"[..], &b"while-draining"[..]]);
    assert!(refusals
        .iter()
        .all(|m| m.header(HeaderName::RetryAfter) == Some(&b"30"[..])));
    assert_eq!(net.agent.invites.len(), 1, "neither reached the agent");
    assert_eq!(net.b2b.active_calls(), 1, "the live call goes on");
    net.hang_up();
    net.run_for(Duration::from_secs(1));
    assert!(net.carrier.bye_answered);
    assert_eq!(net.agent.byes_received, 1);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after draining");
}

#[test]
fn a_callers_cancel_is_its_record_and_is_sent_once_whatever_the_deaf_agent_does() {
    let mut net = Net::new(16, 0.0, AgentMode::RingDeaf, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(1));
    let cancel = super::relay::cancel_for(net.carrier.invite.as_ref().unwrap());
    net.send(net.b2b_addr(), cancel.to_bytes());
    // Past the agent-response timeout (4 s) and the ring timeout (60 s): neither fires
    // once the caller has its 487.
    net.run_for(Duration::from_secs(70));
    let cancels: std::collections::BTreeSet<Vec<u8>> = net
        .agent
        .seen
        .iter()
        .filter(|b| b.starts_with(b"CANCEL"))
        .map(|b| {
            Message::parse(b.clone())
                .unwrap()
                .top_via()
                .unwrap()
                .branch
                .unwrap()
                .to_vec()
        })
        .collect();
    assert_eq!(cancels.len(), 1, "one CANCEL transaction");
    let Some(CallEvent::Ended {
        outcome,
        status,
        ended_by,
        ..
    }) = net.events.last()
    else {
        panic!("the call ended: {:?}", net.events.last());
    };
    assert_eq!(
        (*outcome, *status, *ended_by),
        (Outcome::Canceled, 487, EndedBy::Carrier)
    );
    net.assert_nothing_left("after the CANCEL grace period");
}
