//! Transfers, live (issue 18): LiveKit's `TransferSIPParticipant` sends REFER to the caller.
//! With the shipped `refer = "relay"`, SIPp as the agent (127.0.0.3) REFERs the caller;
//! SIPp as the carrier (127.0.0.1) gets the REFER with its Refer-To in the call's dialog,
//! answers 202 and sends the transfer's NOTIFY, which comes back to the agent with its
//! Event, Subscription-State and sipfrag body (each checked by the agent scenario).

mod common;

const NUMBER: &str = "+15551234567";
const AGENT: &str = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11";
const AGENT_IP: &str = "127.0.0.3";

#[test]
fn the_agents_refer_reaches_the_carrier_and_the_transfers_notify_comes_back() {
    let agent_port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.tsv");
    std::fs::write(&routes, format!("{NUMBER}\t{AGENT}\n")).unwrap();
    let server = common::Server::start(&format!(
        "[routing]\nlivekit_host = \"{AGENT_IP}:{agent_port}\"\nstatic_routes = \"{}\"\n\
         [security]\nlivekit_sources = [\"{AGENT_IP}/32\"]\n",
        routes.display()
    ));
    let agent = common::Agent::start_at("agent-answer-refer.xml", AGENT_IP, agent_port, 1, "u1");
    common::carrier(
        &server,
        &common::scenario("carrier-call-accepts-refer.xml"),
        NUMBER,
        1,
        1,
    );
    agent.finish(&server);
}
