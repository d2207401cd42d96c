//! Agent legs we gave up on (RFC 3261 §9.1, §13.2.2.4; RFC 6026): once the caller has its
//! answer, our INVITE is not resent, a late provisional is CANCELled and a late 2xx is
//! ACKed then BYEd, so the agent never runs a call nobody is on.

use std::time::Duration;

use super::*;

fn late(ring_ms: Option<u64>, answer_ms: Option<u64>) -> AgentMode {
    AgentMode::Late { ring_ms, answer_ms }
}

/// Copies of a method that reached the agent, in order of arrival.
fn agent_saw(net: &Net, method: Method) -> Vec<usize> {
    net.agent
        .seen
        .iter()
        .enumerate()
        .filter(|(_, bytes)| Message::parse((*bytes).clone()).is_ok_and(|m| m.method() == Some(&method)))
        .map(|(i, _)| i)
        .collect()
}

fn ended(net: &Net) -> Vec<(Outcome, u16, EndedBy)> {
    net.events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Ended {
                outcome,
                status,
                ended_by,
                ..
            } => Some((*outcome, *status, *ended_by)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_agent_that_answers_after_the_response_timeout_is_acked_then_byed_and_never_resent_the_invite() {
    let mut net = Net::new(60, 0.0, late(None, Some(5_500)), Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_millis(4_100));
    assert_eq!(
        net.carrier.finals,
        vec![503],
        "the carrier fails over at the response timeout"
    );
    // Sent at 0, then Timer A at 0.5, 1.5 and 3.5 s; nothing after we gave up at 4 s.
    assert_eq!(agent_saw(&net, Method::Invite).len(), 4);
    net.run_for(Duration::from_millis(1_300));
    assert_eq!(agent_saw(&net, Method::Invite).len(), 4, "no INVITE after giving up");
    assert_eq!(net.agent.acks, 0, "the agent has not answered yet");
    net.run_for(Duration::from_millis(300));
    let (acks, byes) = (agent_saw(&net, Method::Ack), agent_saw(&net, Method::Bye));
    assert_eq!(
        (acks.len(), byes.len()),
        (1, 1),
        "its late 200 is ACKed and BYEd at once"
    );
    assert!(acks[0] < byes[0], "ACK before BYE (RFC 3261 §15)");
    assert!(
        agent_saw(&net, Method::Cancel).is_empty(),
        "nothing to CANCEL after a 2xx"
    );
    net.run_for(Duration::from_secs(40));
    assert_eq!(net.carrier.finals, vec![503], "the caller never sees the late 200");
    assert_eq!(
        ended(&net),
        vec![(Outcome::Failed, 503, EndedBy::Switchboard)],
        "one record: the failure the caller got"
    );
    net.assert_nothing_left("after a late 200");
}

#[test]
fn a_provisional_after_the_response_timeout_is_cancelled_at_once() {
    let mut net = Net::new(61, 0.0, late(Some(4_500), Some(5_500)), Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_millis(4_400));
    assert_eq!(net.carrier.finals, vec![503]);
    assert!(
        agent_saw(&net, Method::Cancel).is_empty(),
        "no CANCEL before a provisional (§9.1)"
    );
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.agent.cancels, 1, "the 180 is met with CANCEL");
    assert!(net.agent.acks >= 1, "its 487 is ACKed");
    net.run_for(Duration::from_secs(40));
    assert!(!net.carrier.provisionals.contains(&180), "the late 180 is not relayed");
    assert_eq!(ended(&net), vec![(Outcome::Failed, 503, EndedBy::Switchboard)]);
    net.assert_nothing_left("after a late 180");
}

#[test]
fn a_ringing_agent_is_cancelled_at_the_ring_timeout_and_its_crossing_200_acked_and_byed() {
    let config = B2buaConfig {
        ring_timeout_secs: 4,
        agent_response_timeout_secs: 30,
        ..Net::config()
    };
    let mut net = Net::new(62, 0.0, AgentMode::AnswerOnCancel, config);
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_millis(3_900));
    assert!(net.carrier.finals.is_empty(), "ringing");
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.carrier.finals, vec![480]);
    assert_eq!(net.agent.cancels, 1, "CANCEL at the timeout");
    let (acks, byes) = (agent_saw(&net, Method::Ack), agent_saw(&net, Method::Bye));
    assert!(!acks.is_empty() && byes.len() == 1 && acks[0] < byes[0]);
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after the ring timeout");
}

#[test]
fn a_cancelled_call_whose_agent_never_responded_gets_no_more_invites_and_its_late_200_is_undone() {
    let mut net = Net::new(63, 0.0, late(None, Some(5_500)), Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_millis(1_000));
    let cancel = super::relay::cancel_for(net.carrier.invite.as_ref().unwrap());
    net.send(net.b2b_addr(), cancel.to_bytes());
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.carrier.finals, vec![487]);
    let sent = agent_saw(&net, Method::Invite).len();
    net.run_for(Duration::from_millis(5_000));
    assert_eq!(
        agent_saw(&net, Method::Invite).len(),
        sent,
        "no INVITE after the caller left"
    );
    let (acks, byes) = (agent_saw(&net, Method::Ack), agent_saw(&net, Method::Bye));
    assert!(acks.len() == 1 && byes.len() == 1 && acks[0] < byes[0]);
    net.run_for(Duration::from_secs(40));
    assert_eq!(ended(&net), vec![(Outcome::Canceled, 487, EndedBy::Carrier)]);
    net.assert_nothing_left("after a cancelled late 200");
}

#[test]
fn late_answers_are_undone_through_20_percent_loss() {
    let mut answered_late = 0;
    for seed in 300..330 {
        let mut net = Net::new(seed, 0.2, late(None, Some(5_500)), Net::config());
        net.call(NUMBER, &[]);
        net.run_for(Duration::from_secs(20));
        assert_eq!(net.carrier.finals, vec![503], "seed {seed}");
        // All four copies of our INVITE can be lost (p = 0.2^4): then nothing answers.
        if !net.agent.invites.is_empty() {
            answered_late += 1;
            assert!(net.agent.acks >= 1, "seed {seed}: the late 200 is ACKed");
            assert!(net.agent.byes_received >= 1, "seed {seed}: and BYEd");
        }
        net.run_for(Duration::from_secs(60));
        assert_eq!(ended(&net).len(), 1, "seed {seed}");
        net.assert_nothing_left(&format!("seed {seed}"));
    }
    assert!(answered_late >= 28, "{answered_late} of 30 seeds reached the agent");
}

#[test]
fn an_inbound_agent_still_ringing_at_the_response_timeout_is_cancelled_and_the_caller_gets_503() {
    // The shipped timers: ring 60 s, agent response 4 s. LiveKit answers once the room
    // exists, so a leg that only rings for 4 s is given up on like a silent one.
    let mut net = Net::new(63, 0.0, AgentMode::AnswerOnCancel, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_millis(3_900));
    assert!(net.carrier.finals.is_empty(), "ringing");
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.carrier.finals, vec![503]);
    assert_eq!(net.agent.cancels, 1, "CANCEL at the response timeout");
    let (acks, byes) = (agent_saw(&net, Method::Ack), agent_saw(&net, Method::Bye));
    assert!(
        !acks.is_empty() && byes.len() == 1 && acks[0] < byes[0],
        "the crossing 200 is ACKed, then BYEd"
    );
    net.run_for(Duration::from_secs(40));
    assert_eq!(ended(&net), vec![(Outcome::Failed, 503, EndedBy::Switchboard)]);
    net.assert_nothing_left("after a ringing agent was given up on");
}
