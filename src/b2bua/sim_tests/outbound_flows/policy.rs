//! The outbound rules as the B2BUA applies them, over the simulated network: caller ID,
//! authorisation, destinations, media encryption, the carrier transport, trunk limits.
//! Every refusal is answered before any carrier is contacted.

use super::*;

#[test]
fn a_caller_id_the_agent_may_not_use_gets_403_with_a_reason_and_no_carrier_leg() {
    let mut net = outbound_net(110, AgentMode::Answer, Net::config());
    net.agent_calls(DIALED, Some(PRIVATE_B), Some("ver-a"));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![403]);
    assert!(net.agent.invites.is_empty(), "no carrier leg");
    let reason = String::from_utf8_lossy(net.final_to_livekit().header(HeaderName::Reason).unwrap()).into_owned();
    assert!(reason.contains("not shareable"), "{reason}");
    assert!(net.outbound_events().iter().any(|e| matches!(
        e,
        CallEvent::Ended {
            outcome: Outcome::Denied,
            status: 403,
            ..
        }
    )));
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after the refusal");
}

#[test]
fn a_shareable_number_used_by_another_agent_is_allowed() {
    let mut net = outbound_net(111, AgentMode::Answer, Net::config());
    net.agent_calls(DIALED, Some(SHARED), Some("ver-a"));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![200]);
    assert_eq!(net.agent.invites[0].from().unwrap().uri.user, Some(SHARED.as_bytes()));
}

#[test]
fn without_a_caller_id_the_versions_own_number_is_used() {
    let mut net = outbound_net(112, AgentMode::Answer, Net::config());
    net.agent_calls(DIALED, None, Some("ver-a"));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![200]);
    assert_eq!(net.agent.invites[0].from().unwrap().uri.user, Some(OWN.as_bytes()));
    let mut net = outbound_net(113, AgentMode::Answer, Net::config());
    net.agent_calls(DIALED, None, Some("ver-b"));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![403], "ver-b holds two numbers: ambiguous");
    assert!(net.agent.invites.is_empty());
}

#[test]
fn a_call_without_an_agent_version_or_the_shared_secret_is_refused() {
    let mut net = outbound_net(114, AgentMode::Answer, Net::config());
    net.agent_calls(DIALED, Some(OWN), None);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![403]);
    let secret = OutboundSettings {
        shared_secret: Secret("lk-secret".into()),
        ..settings()
    };
    let mut net = outbound_net_with(
        115,
        AgentMode::Answer,
        Net::config(),
        byoc(MediaEncryption::None),
        secret.clone(),
    );
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![403], "no secret");
    let mut net = outbound_net_with(
        116,
        AgentMode::Answer,
        Net::config(),
        byoc(MediaEncryption::None),
        secret,
    );
    let mut invite = agent_invite(DIALED, Some(OWN), Some("ver-a"), 1, PLAIN_SDP);
    invite.append_raw_header("X-Switchboard-Secret", Bytes::from_static(b"lk-secret"));
    net.agent_calls_with(invite);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![200], "with the secret");
    assert_eq!(net.agent.invites[0].header_by_name("X-Switchboard-Secret"), None);
}

#[test]
fn denied_and_international_destinations_get_403_and_bad_numbers_484_with_no_carrier_leg() {
    for (dialed, status, why) in [
        ("+19005551234", 403, "deny list"),
        ("+442071838750", 403, "international"),
        ("+18765551234", 403, "international"),
        ("call-me", 484, "not a valid E.164"),
    ] {
        let mut net = outbound_net(117, AgentMode::Answer, Net::config());
        net.agent_calls(dialed, Some(OWN), Some("ver-a"));
        net.run_for(Duration::from_secs(1));
        assert_eq!(net.carrier.finals, vec![status], "{dialed}");
        assert!(net.agent.invites.is_empty(), "{dialed}: no carrier leg");
        let reason = String::from_utf8_lossy(net.final_to_livekit().header(HeaderName::Reason).unwrap()).into_owned();
        assert!(reason.contains(why), "{dialed}: {reason}");
    }
    let mut net = outbound_net(118, AgentMode::Answer, Net::config());
    net.agent_calls("2125551234", Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.agent.invites[0].request_uri(),
        Some(format!("sip:{DIALED}@192.0.2.10:5090").as_bytes()),
        "a national number is dialled in E.164"
    );
}

#[test]
fn an_srtp_trunk_refuses_a_plain_offer_with_488_and_takes_an_srtp_one() {
    let mut net = outbound_net_with(
        119,
        AgentMode::Answer,
        Net::config(),
        byoc(MediaEncryption::Srtp),
        settings(),
    );
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![488]);
    assert!(net.agent.invites.is_empty());
    assert!(
        String::from_utf8_lossy(net.final_to_livekit().header(HeaderName::Reason).unwrap()).contains("requires SRTP")
    );
    let mut net = outbound_net_with(
        120,
        AgentMode::Answer,
        Net::config(),
        byoc(MediaEncryption::Srtp),
        settings(),
    );
    net.agent_calls_with(agent_invite(DIALED, Some(OWN), Some("ver-a"), 1, SRTP_SDP));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![200]);
    let mut net = outbound_net(121, AgentMode::Answer, Net::config());
    net.agent_calls_with(agent_invite(DIALED, Some(OWN), Some("ver-a"), 1, SRTP_SDP));
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.carrier.finals,
        vec![488],
        "a plain trunk cannot take an SRTP-only offer"
    );
}

#[test]
fn a_tcp_trunk_gets_its_invite_over_tcp_with_a_tcp_via_and_contact() {
    let trunk = OutboundConfig {
        transport: SipTransport::Tcp,
        ..byoc(MediaEncryption::None)
    };
    let mut b2b = B2bua::new(Net::config(), 7);
    let side = OutboundSide::new(trunk, settings());
    let now = crate::clock::now();
    let lk = Peer {
        addr: carrier_addr(),
        transport: Transport::Udp,
        connection: None,
    };
    b2b.handle_outbound_request(
        now,
        agent_invite(DIALED, Some(OWN), Some("ver-a"), 1, PLAIN_SDP),
        lk,
        Arrival::in_country("1"),
    );
    route_both(&mut b2b, now, &Table, &side.router);
    let to_carrier: Vec<Transmit> = std::iter::from_fn(|| b2b.poll_transmit())
        .filter(|t| t.to.addr == agent_addr())
        .collect();
    assert_eq!(to_carrier.len(), 1);
    assert_eq!(to_carrier[0].to.transport, Transport::Tcp);
    let invite = Message::parse(to_carrier[0].bytes.clone()).unwrap();
    assert!(invite.header(HeaderName::Via).unwrap().starts_with(b"SIP/2.0/TCP "));
    assert!(invite
        .header(HeaderName::Contact)
        .unwrap()
        .ends_with(b";transport=tcp>"));
    assert!(invite.request_uri().unwrap().ends_with(b";transport=tcp"));
}

/// Drives the B2BUA directly: several agent INVITEs at chosen instants, no scripted ends.
struct Burst {
    b2b: B2bua,
    side: OutboundSide,
    now: std::time::Instant,
    next: u32,
}

impl Burst {
    fn new(settings: OutboundSettings) -> Burst {
        Burst {
            b2b: B2bua::new(Net::config(), 9),
            side: OutboundSide::new(byoc(MediaEncryption::None), settings),
            now: crate::clock::now(),
            next: 1,
        }
    }

    /// Place one call; the final answer LiveKit got at once (if any) and the carrier INVITE.
    fn call(&mut self) -> (Option<Message>, Option<Message>) {
        self.next += 1;
        let invite = agent_invite(DIALED, Some(OWN), Some("ver-a"), self.next, PLAIN_SDP);
        let lk = Peer {
            addr: carrier_addr(),
            transport: Transport::Udp,
            connection: None,
        };
        self.b2b
            .handle_outbound_request(self.now, invite, lk, Arrival::in_country("1"));
        route_both(&mut self.b2b, self.now, &Table, &self.side.router);
        let (mut answer, mut carrier) = (None, None);
        while let Some(t) = self.b2b.poll_transmit() {
            let m = Message::parse(t.bytes).unwrap();
            if t.to.addr == agent_addr() {
                carrier = Some(m);
            } else if m.status().is_some_and(|s| s >= 200) {
                answer = Some(m);
            }
        }
        (answer, carrier)
    }

    fn carrier_answers(&mut self, invite: &Message, status: u16) {
        let response = response_for(invite, status, "x").to_tag("z").build();
        self.b2b.handle_response(self.now, response);
        while self.b2b.poll_transmit().is_some() {}
    }
}

#[test]
fn a_trunk_at_its_concurrent_call_limit_answers_503_until_a_call_ends() {
    let mut limited = settings();
    limited.trunks.insert(
        TRUNK.into(),
        TrunkLimitsConfig {
            max_concurrent: Some(2),
            ..TrunkLimitsConfig::default()
        },
    );
    let mut burst = Burst::new(limited);
    let (_, first) = burst.call();
    let (_, second) = burst.call();
    assert!(first.is_some() && second.is_some());
    let (answer, carrier) = burst.call();
    assert!(carrier.is_none(), "no carrier leg over the limit");
    let answer = answer.unwrap();
    assert_eq!(answer.status(), Some(503));
    assert!(answer.header(HeaderName::RetryAfter).is_some());
    assert!(String::from_utf8_lossy(answer.header(HeaderName::Reason).unwrap()).contains("concurrent call limit"));
    burst.carrier_answers(&first.unwrap(), 486);
    assert_eq!(burst.b2b.trunk_calls(TRUNK), 1);
    let (_, carrier) = burst.call();
    assert!(carrier.is_some(), "the ended call's slot is free again");
}

#[test]
fn a_trunk_over_its_call_rate_answers_503_with_the_seconds_until_the_next_call() {
    let mut limited = settings();
    limited.trunks.insert(
        TRUNK.into(),
        TrunkLimitsConfig {
            calls_per_second: Some(0.5),
            burst: Some(2),
            max_concurrent: None,
        },
    );
    let mut burst = Burst::new(limited);
    assert!(burst.call().1.is_some());
    assert!(burst.call().1.is_some());
    let (answer, carrier) = burst.call();
    assert!(carrier.is_none());
    let answer = answer.unwrap();
    assert_eq!(answer.status(), Some(503));
    assert_eq!(
        answer.header(HeaderName::RetryAfter),
        Some(&b"2"[..]),
        "one token per 2 s"
    );
    assert!(String::from_utf8_lossy(answer.header(HeaderName::Reason).unwrap()).contains("call rate limit"));
    burst.now += Duration::from_millis(1999);
    assert!(burst.call().1.is_none(), "still too early");
    burst.now += Duration::from_millis(1);
    assert!(burst.call().1.is_some(), "a token came back");
}
