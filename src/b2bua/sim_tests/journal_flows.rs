//! The dialog journal over the simulated network: an answered call is journaled with both
//! dialogs and unjournaled when it ends; a call never answered is never journaled; a new
//! core given what a crashed one journaled ends both legs, through loss.

use std::time::Duration;

use super::*;

fn journaled(net: &mut Net) -> Vec<JournalEntry> {
    std::iter::from_fn(|| net.b2b.poll_journal()).collect()
}

/// An answered call on a core that keeps the journal; its `Up` entry.
fn answered_call(seed: u64) -> (Net, JournaledCall) {
    let mut net = Net::new(seed, 0.0, AgentMode::Answer, Net::config());
    net.b2b = B2bua::new(Net::config(), seed).with_journal();
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(8));
    assert_eq!(net.carrier.finals, vec![200], "answered");
    let entries = journaled(&mut net);
    let [JournalEntry::Up(call)] = &entries[..] else {
        panic!("one Up entry at the answer: {entries:?}")
    };
    let call = (**call).clone();
    (net, call)
}

#[test]
fn an_answered_call_is_journaled_with_both_dialogs_and_forgotten_when_it_ends() {
    let (mut net, call) = answered_call(60);
    let [carrier, agent] = &call.legs;
    assert_eq!(&carrier.call_id[..], b"carrier-call-1");
    assert_eq!(&carrier.remote_tag[..], b"c1");
    assert_eq!(Some(&carrier.local_tag), net.carrier.to_tag.as_ref());
    assert_eq!(&carrier.remote_target[..], b"sip:carrier@192.0.2.1:5060");
    assert_eq!((carrier.peer, carrier.transport), (carrier_addr(), Transport::Udp));
    assert_eq!(
        call.key, agent.call_id,
        "keyed by the Call-ID we drew for the agent leg"
    );
    assert_eq!(&agent.remote_tag[..], b"a1");
    assert_eq!(&agent.remote_target[..], b"sip:agent@192.0.2.10:5090");
    assert_eq!((agent.peer, agent.local_cseq), (agent_addr(), 1));
    net.hang_up();
    net.run_for(Duration::from_secs(1));
    assert_eq!(journaled(&mut net), vec![JournalEntry::Down { key: call.key }]);
}

#[test]
fn a_call_never_answered_is_never_journaled() {
    let mut net = Net::new(61, 0.0, AgentMode::Busy, Net::config());
    net.b2b = B2bua::new(Net::config(), 61).with_journal();
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_secs(40));
    assert_eq!(net.carrier.finals, vec![486]);
    assert!(journaled(&mut net).is_empty());
}

#[test]
fn a_new_core_ends_both_legs_of_a_journaled_call_through_loss() {
    for seed in 62..72 {
        let (mut net, call) = answered_call(seed);
        // The crash: a core with none of the old one's state, on a lossy link.
        net.b2b = B2bua::new(Net::config(), seed + 100);
        net.loss = 0.3;
        net.b2b.end_left_calls(net.now, &[call]);
        net.pump_b2b();
        net.run_for(Duration::from_secs(40));
        assert!(net.carrier.byes_received >= 1, "seed {seed}: the carrier's BYE");
        assert!(net.agent.byes_received >= 1, "seed {seed}: the agent's BYE");
        net.assert_nothing_left(&format!("seed {seed}: after a restart's BYEs"));
    }
}
