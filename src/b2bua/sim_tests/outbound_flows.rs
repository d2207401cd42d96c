//! Outbound calls over the simulated network: the scripted party at `carrier_addr` plays
//! LiveKit placing an agent's call, the scripted party at `agent_addr` plays the carrier
//! (challenging with 401/407 where a test asks), and the real outbound rules decide over a
//! directory in a temporary store. Here the call flows (digest challenges, busy, no
//! answer, CANCEL, unreachable, in-dialog requests, loss); `policy.rs` the refusals and
//! limits. Every rule of the outbound path, with a virtual clock.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::directory::model::{
    Agent, AgentVersion, InboundConfig, MediaEncryption, Org, OutboundConfig, PhoneNumber, Secret, SipTransport, Trunk,
};
use crate::directory::{Directory, Object};
use crate::routing::outbound::{DirectoryOutboundRouter, OutboundSettings, TrunkLimitsConfig};
use crate::store::SqliteStore;

mod policy;

const OWN: &str = "+14155550101";
const SHARED: &str = "+14155550102";
const PRIVATE_B: &str = "+14155550103";
const DIALED: &str = "+12125551234";
const CARRIER_USER: &str = "trunk-user";
const CARRIER_PASSWORD: &str = "trunk-pass";
const TRUNK: &str = "trk-1";
const PLAIN_SDP: &[u8] =
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
const SRTP_SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
    m=audio 40000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n";

/// The outbound rules over a small directory: agent versions `ver-a` (its own number OWN)
/// and `ver-b` (SHARED, shareable, and PRIVATE_B), all on one BYOC trunk to the scripted
/// carrier.
pub(super) struct OutboundSide {
    pub router: DirectoryOutboundRouter,
    _store: tempfile::TempDir,
}

/// How the test trunk reaches its carrier.
fn byoc(media_encryption: MediaEncryption) -> OutboundConfig {
    OutboundConfig {
        address: agent_addr().to_string(),
        auth_username: CARRIER_USER.into(),
        auth_password: Secret(CARRIER_PASSWORD.into()),
        transport: SipTransport::Udp,
        media_encryption,
    }
}

impl OutboundSide {
    fn new(trunk: OutboundConfig, settings: OutboundSettings) -> OutboundSide {
        let store = tempfile::tempdir().unwrap();
        let directory =
            Arc::new(Directory::load(Arc::new(SqliteStore::open(&store.path().join("s.db")).unwrap())).unwrap());
        let number = |e164: &str, version: &str, shareable: bool| {
            Object::PhoneNumber(PhoneNumber {
                id: format!("pn{e164}"),
                org_id: "org-1".into(),
                phone_number: e164.into(),
                trunk_id: TRUNK.into(),
                inbound_agent_version_id: None,
                outbound_agent_version_id: Some(version.into()),
                outbound_shareable: shareable,
                created_at: String::new(),
                updated_at: String::new(),
            })
        };
        let mut objects = vec![
            Object::Org(Org {
                id: "org-1".into(),
                name: "Org".into(),
                livekit_sip_host: None,
            }),
            Object::Trunk(Trunk {
                id: TRUNK.into(),
                org_id: "org-1".into(),
                name: "carrier".into(),
                managed_account_id: None,
                inbound_config: InboundConfig::default(),
                outbound_config: Some(trunk),
                created_at: String::new(),
                updated_at: String::new(),
            }),
            number(OWN, "ver-a", false),
            number(SHARED, "ver-b", true),
            number(PRIVATE_B, "ver-b", false),
        ];
        for (version, agent) in [("ver-a", "agent-a"), ("ver-b", "agent-b")] {
            objects.push(Object::Agent(Agent {
                id: agent.into(),
                org_id: "org-1".into(),
                name: agent.into(),
                created_at: String::new(),
            }));
            objects.push(Object::AgentVersion(AgentVersion {
                id: version.into(),
                agent_id: agent.into(),
                org_id: "org-1".into(),
                version: 1,
                published: true,
                created_at: String::new(),
            }));
        }
        directory.commit(objects, vec![]).unwrap();
        OutboundSide {
            router: DirectoryOutboundRouter::new(directory, settings),
            _store: store,
        }
    }
}

/// Settings generous enough that limits never get in a test's way unless it sets them.
fn settings() -> OutboundSettings {
    OutboundSettings {
        calls_per_second: 100.0,
        burst: 100,
        max_concurrent: 100,
        ..OutboundSettings::default()
    }
}

fn outbound_net(seed: u64, mode: AgentMode, config: B2buaConfig) -> Net {
    outbound_net_with(seed, mode, config, byoc(MediaEncryption::None), settings())
}

fn outbound_net_with(
    seed: u64,
    mode: AgentMode,
    config: B2buaConfig,
    trunk: OutboundConfig,
    settings: OutboundSettings,
) -> Net {
    let mut net = Net::new(seed, 0.0, mode, config);
    net.outbound = Some(OutboundSide::new(trunk, settings));
    net
}

/// The agent's INVITE as LiveKit sends it.
fn agent_invite(
    dialed: &str,
    caller_id: Option<&str>,
    version: Option<&str>,
    call: u32,
    sdp: &'static [u8],
) -> Message {
    let mut b = RequestBuilder::new(Method::Invite, format!("sip:{dialed}@192.0.2.5").as_bytes())
        .header(
            HeaderName::Via,
            format!("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKlk{call};rport"),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(
            HeaderName::From,
            format!(
                "\"Sales agent\" <sip:{}@192.0.2.1>;tag=c1",
                caller_id.unwrap_or("lk-agent")
            ),
        )
        .header(HeaderName::To, format!("<sip:{dialed}@192.0.2.5>"))
        .header(
            HeaderName::CallId,
            if call == 1 {
                "carrier-call-1".to_string()
            } else {
                format!("lk-call-{call}")
            },
        )
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, "<sip:livekit@192.0.2.1:5060>")
        .raw_header(b"X-Lk-Room", "room-7");
    if let Some(version) = version {
        b = b.raw_header(b"X-Switchboard-Agent-Version-Id", version);
    }
    b.header(HeaderName::ContentType, "application/sdp")
        .body(Bytes::from_static(sdp))
        .build()
}

impl Net {
    /// LiveKit places an agent's call (retransmitted by the script until a final answer).
    fn agent_calls(&mut self, dialed: &str, caller_id: Option<&str>, version: Option<&str>) {
        self.agent_calls_with(agent_invite(dialed, caller_id, version, 1, PLAIN_SDP));
    }

    fn agent_calls_with(&mut self, invite: Message) {
        self.carrier.invite = Some(invite.clone());
        self.send(self.b2b_addr(), invite.to_bytes());
    }

    /// The scripted carrier's challenge to an INVITE (a fresh nonce each time).
    pub(super) fn challenge(&mut self, invite: &Message, status: u16) -> Bytes {
        self.agent.challenges += 1;
        let header = if status == 401 {
            HeaderName::WwwAuthenticate
        } else {
            HeaderName::ProxyAuthenticate
        };
        let response = response_for(invite, status, "Unauthorized")
            .to_tag("a1")
            .header(
                header,
                format!(
                    "Digest realm=\"carrier.test\", nonce=\"nonce-{}\", qop=\"auth\", algorithm={}, opaque=\"op\"",
                    self.agent.challenges,
                    self.challenge_algorithm()
                ),
            )
            .build()
            .to_bytes();
        self.agent.last_response = Some(response.clone());
        response
    }

    /// Whether `invite` answers our last challenge correctly (recorded in `auth_ok`).
    pub(super) fn answered_challenge(&mut self, invite: &Message, status: u16) -> bool {
        let header = if status == 401 {
            HeaderName::Authorization
        } else {
            HeaderName::ProxyAuthorization
        };
        let Some(value) = invite.header(header) else {
            return false;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        let get = |name: &str| param(&value, name);
        let challenge = crate::security::parse_challenge(&format!(
            "Digest realm=\"carrier.test\", nonce=\"nonce-{}\", qop=\"auth\", algorithm={}, opaque=\"op\"",
            self.agent.challenges,
            self.challenge_algorithm()
        ))
        .unwrap();
        let uri = String::from_utf8_lossy(invite.request_uri().unwrap()).into_owned();
        let expected = param(
            &challenge.answer("INVITE", &uri, CARRIER_USER, CARRIER_PASSWORD, &get("cnonce"), 1),
            "response",
        );
        let ok = get("username") == CARRIER_USER
            && get("algorithm") == self.challenge_algorithm()
            && get("uri") == uri
            && get("nc") == "00000001"
            && get("opaque") == "op"
            && get("response") == expected;
        self.agent.auth_ok.push(ok);
        ok
    }

    fn challenge_algorithm(&self) -> &'static str {
        if self.agent.sha256 {
            "SHA-256"
        } else {
            "MD5"
        }
    }

    fn outbound_events(&self) -> Vec<&CallEvent> {
        self.events
            .iter()
            .filter(|e| e.direction() == Direction::Outbound)
            .collect()
    }

    /// The final response LiveKit got, as a message.
    fn final_to_livekit(&self) -> Message {
        self.carrier
            .seen
            .iter()
            .map(|b| Message::parse(b.clone()).unwrap())
            .find(|m| m.status().is_some_and(|s| s >= 200) && m.cseq().unwrap().method == Method::Invite)
            .expect("a final response reached LiveKit")
    }
}

#[test]
fn an_agent_call_goes_through_the_carriers_407_challenge_and_both_legs_end_cleanly() {
    let mut net = outbound_net(101, AgentMode::ChallengeThenAnswer(407), Net::config());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![200], "LiveKit got the answer");
    assert!(net.carrier.provisionals.contains(&180));
    assert_eq!(net.agent.challenges, 1);
    assert_eq!(net.agent.auth_ok, vec![true], "the digest answer checks out");
    let [first, second] = &net.agent.invites[..] else {
        panic!("two INVITEs to the carrier, got {}", net.agent.invites.len())
    };
    assert_eq!(first.call_id(), second.call_id(), "same Call-ID");
    assert_eq!(first.from_tag(), second.from_tag(), "same From tag");
    assert_eq!((first.cseq().unwrap().seq, second.cseq().unwrap().seq), (1, 2));
    assert_ne!(first.top_via().unwrap().branch, second.top_via().unwrap().branch);
    assert!(first.header(HeaderName::ProxyAuthorization).is_none());
    assert!(net.agent.acks >= 2, "the 407 and the 200 were both ACKed");
    assert_eq!(
        second.request_uri(),
        Some(format!("sip:{DIALED}@192.0.2.10:5090").as_bytes())
    );
    let from = second.from().unwrap();
    assert_eq!(from.uri.user, Some(OWN.as_bytes()), "the caller ID");
    assert_eq!(
        second.header(HeaderName::PAssertedIdentity),
        Some(format!("<sip:{OWN}@192.0.2.5:5060>").as_bytes())
    );
    assert_eq!(
        second.header_by_name("X-Lk-Room"),
        None,
        "no X- header reaches the carrier"
    );
    assert_eq!(second.header_by_name("X-Switchboard-Agent-Version-Id"), None);
    assert_eq!(second.body(), PLAIN_SDP, "the SDP passes unchanged");
    assert!(
        net.agent
            .seen
            .iter()
            .all(|m| !m.windows(10).any(|w| w == b"192.0.2.1:")),
        "nothing of LiveKit's address reaches the carrier"
    );
    assert_eq!(net.b2b.trunk_calls(TRUNK), 1);
    net.hang_up();
    net.run_for(Duration::from_secs(1));
    assert!(net.carrier.bye_answered);
    assert_eq!(net.agent.byes_received, 1);
    let bye = net
        .agent
        .seen
        .iter()
        .map(|b| Message::parse(b.clone()).unwrap())
        .find(|m| m.method() == Some(&Method::Bye))
        .unwrap();
    assert_eq!(bye.cseq().unwrap().seq, 3, "CSeq keeps rising past the re-sent INVITE");
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after the outbound call");
    assert_eq!(net.b2b.trunk_calls(TRUNK), 0, "the trunk slot came back");
    let events = net.outbound_events();
    assert!(matches!(events[0], CallEvent::Routed { route: Some(_), .. }));
    assert!(events.iter().any(|e| matches!(e, CallEvent::Answered { .. })));
    assert!(matches!(
        events.last().unwrap(),
        CallEvent::Ended {
            outcome: Outcome::Answered,
            ended_by: EndedBy::Agent,
            ..
        }
    ));
}

#[test]
fn a_401_challenge_is_answered_with_authorization() {
    let mut net = outbound_net(102, AgentMode::ChallengeThenAnswer(401), Net::config());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![200]);
    assert_eq!(net.agent.auth_ok, vec![true]);
    let second = &net.agent.invites[1];
    assert!(second.header(HeaderName::Authorization).is_some());
    assert!(second.header(HeaderName::ProxyAuthorization).is_none());
}

#[test]
fn a_sha256_challenge_is_answered_with_a_sha256_digest() {
    let mut net = outbound_net(125, AgentMode::ChallengeThenAnswer(407), Net::config());
    net.agent.sha256 = true;
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![200]);
    assert_eq!(net.agent.auth_ok, vec![true], "the SHA-256 answer checks out");
    let answer = net.agent.invites[1].header(HeaderName::ProxyAuthorization).unwrap();
    assert!(String::from_utf8_lossy(answer).contains("algorithm=SHA-256"));
}

#[test]
fn a_second_challenge_after_our_answer_fails_the_call_without_a_loop() {
    let mut net = outbound_net(103, AgentMode::AlwaysChallenge, Net::config());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.agent.invites.len(), 2, "one answer, never a loop");
    assert_eq!(net.carrier.finals, vec![403]);
    let reason = net.final_to_livekit().header(HeaderName::Reason).unwrap().to_vec();
    assert!(
        String::from_utf8_lossy(&reason).contains("carrier authentication failed"),
        "{}",
        String::from_utf8_lossy(&reason)
    );
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after the refused credentials");
}

#[test]
fn a_challenge_to_a_trunk_without_credentials_fails_the_call_at_once() {
    let trunk = OutboundConfig {
        auth_username: String::new(),
        ..byoc(MediaEncryption::None)
    };
    let mut net = outbound_net_with(104, AgentMode::AlwaysChallenge, Net::config(), trunk, settings());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.agent.invites.len(), 1);
    assert_eq!(net.carrier.finals, vec![403]);
}

#[test]
fn a_busy_carrier_gives_the_agent_486() {
    let mut net = outbound_net(105, AgentMode::Busy, Net::config());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![486]);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after busy");
    assert!(net.outbound_events().iter().any(|e| matches!(
        e,
        CallEvent::Ended {
            outcome: Outcome::Busy,
            ended_by: EndedBy::Carrier,
            ..
        }
    )));
}

#[test]
fn nobody_answering_gives_the_agent_the_no_answer_status_and_cancels_the_carrier() {
    let config = B2buaConfig {
        ring_timeout_secs: 5,
        ..Net::config()
    };
    let mut net = outbound_net(106, AgentMode::Ring, config);
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(6));
    assert_eq!(net.carrier.finals, vec![480]);
    assert_eq!(net.agent.cancels, 1);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after no answer");
}

#[test]
fn the_agent_cancelling_cancels_the_authenticated_carrier_invite() {
    let mut net = outbound_net(107, AgentMode::ChallengeThenRing(407), Net::config());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(1));
    let cancel = super::relay::cancel_for(net.carrier.invite.as_ref().unwrap());
    net.send(net.b2b_addr(), cancel.to_bytes());
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![487]);
    assert_eq!(net.agent.cancels, 1);
    let cancel = net
        .agent
        .seen
        .iter()
        .map(|b| Message::parse(b.clone()).unwrap())
        .find(|m| m.method() == Some(&Method::Cancel))
        .unwrap();
    assert_eq!(
        cancel.cseq().unwrap().seq,
        2,
        "the CANCEL names the INVITE that was answered"
    );
    assert_eq!(
        cancel.top_via().unwrap().branch,
        net.agent.invites[1].top_via().unwrap().branch
    );
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after CANCEL");
}

#[test]
fn an_unreachable_carrier_gives_the_agent_503_with_retry_after() {
    let mut net = outbound_net(108, AgentMode::Dead, Net::config());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(7));
    assert!(
        net.carrier.finals.is_empty(),
        "carriers get longer than agents to answer"
    );
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![503]);
    let answer = net.final_to_livekit();
    assert!(answer.header(HeaderName::RetryAfter).is_some());
    assert!(String::from_utf8_lossy(answer.header(HeaderName::Reason).unwrap()).contains("carrier did not respond"));
    net.run_for(Duration::from_secs(60));
    net.assert_nothing_left("after an unreachable carrier");
}

#[test]
fn a_transport_error_toward_the_carrier_fails_the_call_at_once() {
    let mut net = outbound_net(109, AgentMode::Dead, Net::config());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_millis(100));
    net.b2b.handle_transport_error(
        net.now,
        Peer {
            addr: agent_addr(),
            transport: Transport::Udp,
            connection: None,
        },
    );
    net.pump_b2b();
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.carrier.finals, vec![503]);
    assert!(
        String::from_utf8_lossy(net.final_to_livekit().header(HeaderName::Reason).unwrap())
            .contains("carrier unreachable")
    );
}

#[test]
fn a_re_invite_from_the_carrier_reaches_the_agent_and_its_answer_comes_back() {
    let mut net = outbound_net(122, AgentMode::ChallengeThenAnswer(407), Net::config());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![200]);
    net.agent_request(Method::Invite, 1, Some(b"v=0\r\ns=hold\r\na=sendonly\r\n"));
    net.run_for(Duration::from_secs(1));
    let relayed = net
        .carrier
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("the carrier's re-INVITE reached LiveKit");
    assert_eq!(relayed.body(), b"v=0\r\ns=hold\r\na=sendonly\r\n");
    assert_eq!(net.agent.in_dialog_answers, vec![(Method::Invite, 200)]);
    assert!(net.carrier.acks >= 1, "the ACK was relayed to LiveKit");
}

#[test]
fn session_timers_end_an_outbound_call_nobody_refreshes() {
    let mut net = outbound_net(123, AgentMode::Answer, Net::config());
    let mut invite = agent_invite(DIALED, Some(OWN), Some("ver-a"), 1, PLAIN_SDP);
    invite.append_header(HeaderName::SessionExpires, Bytes::from_static(b"90;refresher=uac"));
    net.agent_calls_with(invite);
    net.run_for(Duration::from_secs(89));
    assert_eq!(net.carrier.finals, vec![200]);
    assert_eq!(
        net.agent.invites[0].header(HeaderName::SessionExpires),
        Some(&b"90;refresher=uac"[..])
    );
    net.run_for(Duration::from_secs(2));
    assert_eq!((net.carrier.byes_received, net.agent.byes_received), (1, 1));
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after session expiry");
}

#[test]
fn refer_from_the_agent_is_relayed_to_the_carrier_by_default_and_refused_when_configured() {
    let config = B2buaConfig {
        refer: ReferPolicy::Refuse,
        ..Net::config()
    };
    let mut net = outbound_net(126, AgentMode::Answer, config);
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(1));
    let refer = net.carrier_in_dialog(Method::Refer, 2);
    net.carrier_request(refer);
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Refer, 603)]);
    assert!(net.agent.in_dialog.is_empty(), "nothing reached the carrier");
    let mut net = outbound_net(127, AgentMode::Answer, Net::config());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(1));
    let mut refer = net.carrier_in_dialog(Method::Refer, 2);
    refer.append_header(HeaderName::ReferTo, Bytes::from_static(b"<sip:+12125559876@192.0.2.1>"));
    net.carrier_request(refer);
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.carrier.in_dialog_answers, vec![(Method::Refer, 200)]);
    let relayed = net
        .agent
        .in_dialog
        .iter()
        .find(|m| m.method() == Some(&Method::Refer))
        .expect("the REFER reached the carrier");
    assert_eq!(
        relayed.header(HeaderName::ReferTo),
        Some(&b"<sip:+12125559876@192.0.2.1>"[..])
    );
}

#[test]
fn the_carrier_hanging_up_ends_the_agents_leg() {
    let mut net = outbound_net(124, AgentMode::Answer, Net::config());
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(1));
    net.agent_request(Method::Bye, 2, None);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.byes_received, 1);
    assert_eq!(net.agent.in_dialog_answers, vec![(Method::Bye, 200)]);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after the carrier hung up");
    assert!(matches!(
        net.outbound_events().last().unwrap(),
        CallEvent::Ended {
            ended_by: EndedBy::Carrier,
            ..
        }
    ));
}

#[test]
fn challenged_outbound_calls_complete_through_20_percent_loss() {
    for seed in 300..320 {
        let mut net = outbound_net(seed, AgentMode::ChallengeThenAnswer(407), Net::config());
        net.loss = 0.2;
        net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
        net.run_for(Duration::from_secs(10));
        assert_eq!(net.carrier.finals, vec![200], "seed {seed}");
        let cseqs: std::collections::BTreeSet<u32> = net.agent.invites.iter().map(|i| i.cseq().unwrap().seq).collect();
        assert_eq!(
            cseqs.into_iter().collect::<Vec<_>>(),
            vec![1, 2],
            "seed {seed}: one retry"
        );
        assert!(net.agent.auth_ok.iter().all(|ok| *ok), "seed {seed}");
        net.hang_up();
        net.run_for(Duration::from_secs(8));
        assert!(net.carrier.bye_answered, "seed {seed}");
        assert!(net.agent.byes_received >= 1, "seed {seed}");
        net.run_for(Duration::from_secs(60));
        net.assert_nothing_left(&format!("seed {seed}"));
        assert_eq!(net.b2b.trunk_calls(TRUNK), 0, "seed {seed}");
    }
}

#[test]
fn an_answered_outbound_call_is_journaled_and_a_new_core_ends_both_legs() {
    let mut net = outbound_net(126, AgentMode::ChallengeThenAnswer(407), Net::config());
    net.b2b = B2bua::new(Net::config(), 126).with_journal();
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.carrier.finals, vec![200]);
    let entries: Vec<_> = std::iter::from_fn(|| net.b2b.poll_journal()).collect();
    let [JournalEntry::Up(call)] = &entries[..] else {
        panic!("one Up entry at the answer: {entries:?}")
    };
    let [livekit, carrier] = &call.legs;
    assert_eq!((livekit.peer, carrier.peer), (carrier_addr(), agent_addr()));
    assert_eq!(carrier.local_cseq, 2, "the INVITE that answered the challenge");
    let call = (**call).clone();
    // The crash: a core with none of the old one's state.
    net.b2b = B2bua::new(Net::config(), 127);
    net.b2b.end_left_calls(net.now, &[call]);
    net.pump_b2b();
    net.run_for(Duration::from_secs(40));
    assert_eq!(
        (net.carrier.byes_received, net.agent.byes_received),
        (1, 1),
        "answered at once"
    );
    let bye = net.agent.seen.iter().rev().find(|b| b.starts_with(b"BYE")).unwrap();
    let bye = Message::parse(bye.clone()).unwrap();
    assert_eq!(bye.cseq().unwrap().seq, 2 + super::super::CSEQ_MARGIN);
    net.assert_nothing_left("after a restart's BYEs");
}

/// One parameter of a digest header value, unquoted.
fn param(value: &str, name: &str) -> String {
    value
        .split(',')
        .map(str::trim)
        .map(|p| p.strip_prefix("Digest ").unwrap_or(p))
        .find_map(|p| p.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default()
}

#[test]
fn an_agents_call_waits_for_its_route_and_a_cancel_meanwhile_gets_487_with_no_carrier_leg() {
    let mut net = outbound_net(61, AgentMode::Answer, Net::config());
    net.hold_routes = true;
    net.agent_calls(DIALED, Some(OWN), Some("ver-a"));
    net.run_for(Duration::from_millis(600));
    assert_eq!(net.held.len(), 1, "one route asked for, whatever the retransmissions");
    let Query::Outbound(facts) = &net.held[0].facts else {
        panic!("an agent's call asks the outbound router")
    };
    assert_eq!((facts.dialed.as_str(), facts.caller_id.as_deref()), (DIALED, Some(OWN)));
    assert_eq!(facts.agent_version_id.as_deref(), Some("ver-a"));
    assert!(net.carrier.finals.is_empty(), "LiveKit has its 100 and waits");
    assert!(net.agent.invites.is_empty(), "no carrier leg before the route");
    let cancel = super::relay::cancel_for(net.carrier.invite.as_ref().unwrap());
    net.send(net.b2b_addr(), cancel.to_bytes());
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.carrier.finals, vec![487]);
    // The decision arrives after the CANCEL: dropped, no carrier leg.
    let route = net.held.remove(0);
    let Query::Outbound(facts) = &route.facts else {
        unreachable!()
    };
    let decision = net.outbound.as_ref().unwrap().router.route_outbound(&facts.request());
    net.b2b.handle_routed(net.now, route.call, decision);
    net.pump_b2b();
    net.run_for(Duration::from_secs(40));
    assert!(net.agent.invites.is_empty(), "the late decision placed no carrier leg");
    assert_eq!(net.carrier.finals, vec![487]);
    net.assert_nothing_left("after a cancelled outbound route");
}
