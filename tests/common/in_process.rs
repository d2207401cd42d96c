//! Calls through the SIP handler in process, no sockets: a scripted carrier and agent hand
//! it datagrams as bytes and read what it would send. Shared by `tests/shards.rs` (every
//! message of a call must reach the shard holding it) and `benches/shards.rs` (calls per
//! second from several threads). Both legs are TCP, so finished transactions go at once
//! (RFC 3261 §17: no wait for retransmissions on a reliable transport).
//!
//! Whoever holds a shard's lock runs its due timers, so what the handler sends for one
//! message may include another call's retransmission (T1 is 1 ms here): each call reads
//! only its own messages, by Call-ID, and its agent INVITE by the `X-Test-Call` header
//! the carrier's INVITE carried (the agent leg copies `X-` headers).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard::b2bua::{B2bua, B2buaConfig};
use switchboard::routing::{AgentTarget, Decision, Refusal, RouteKind, RouteRequest, Router};
use switchboard::server::SipHandler;
use switchboard::sip::{response_for, HeaderName, Message, Method, RequestBuilder};
use switchboard::transaction::TimerConfig;
use switchboard::transport::{Handler, Incoming, Outgoing, Transport};

pub const DIALED: &str = "+15551234567";
const ADVERTISED: &str = "192.0.2.5:5060";

pub fn carrier() -> SocketAddr {
    "192.0.2.1:5060".parse().unwrap()
}

pub fn agent() -> SocketAddr {
    "192.0.2.10:5090".parse().unwrap()
}

/// Routes the one number to the one agent, over TCP.
struct OneAgent;

impl Router for OneAgent {
    fn route(&self, request: &RouteRequest<'_>) -> Decision {
        if request.called != DIALED {
            return Decision::Refuse(Refusal::UnknownNumber);
        }
        Decision::Agent(Box::new(AgentTarget {
            agent_id: "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11".into(),
            agent_version: 1,
            agent_version_id: "ver-1".into(),
            org_id: "org-1".into(),
            trunk_id: "trunk-1".into(),
            livekit_host: "livekit.test".into(),
            destination: agent(),
            transport: Transport::Tcp,
            kind: RouteKind::Static,
            headers: vec![],
        }))
    }
}

/// A handler over `shards` cores, routing inline (no worker pool), with RFC 3261's timers
/// (T1 500 ms): no timer fires during a short test, however the threads are scheduled.
pub fn handler(shards: usize, max_calls: usize) -> Arc<SipHandler> {
    handler_with(shards, max_calls, TimerConfig::default())
}

/// For long runs: T1 is 1 ms, so that the transactions a 2xx leaves "accepted" (RFC 6026:
/// 64*T1) are swept 64 ms later. A thread descheduled for longer than 64 ms may see its
/// call time out (Timer B).
pub fn swept_handler(shards: usize, max_calls: usize) -> Arc<SipHandler> {
    let timers = TimerConfig {
        t1: Duration::from_millis(1),
        t2: Duration::from_millis(4),
        t4: Duration::from_millis(5),
    };
    handler_with(shards, max_calls, timers)
}

fn handler_with(shards: usize, max_calls: usize, timers: TimerConfig) -> Arc<SipHandler> {
    let config = B2buaConfig {
        advertised: ADVERTISED.into(),
        max_calls,
        timers,
        ..B2buaConfig::default()
    };
    let cores = (0..shards)
        .map(|i| B2bua::new(config.clone(), 1000 + i as u64))
        .collect();
    Arc::new(SipHandler::sharded(String::new(), cores, Arc::new(OneAgent), None))
}

/// Unique Call-IDs across threads and calls.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// How a scripted call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Answered; the carrier hangs up.
    CarrierBye,
    /// Answered; the agent hangs up (its BYE carries the Call-ID we minted).
    AgentBye,
    /// The carrier cancels while the agent rings.
    Cancel,
}

/// One call, start to end. Returns the status the carrier finally got for its INVITE, or
/// what went wrong.
pub fn call(handler: &SipHandler, ending: Ending, out: &mut Vec<Outgoing>) -> Result<u16, String> {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let call_id = format!("{n:x}-7f3a9c@carrier.example");
    let invite = carrier_invite(&call_id, n);
    let scope = &mut Scope::new(&call_id, n);
    let to_agent = exchange(handler, scope, carrier(), invite.to_bytes(), out, agent())?;
    let agent_invite = to_agent.ok_or("the agent got no INVITE")?;
    if ending == Ending::Cancel {
        let ringing = agent_answer(&agent_invite, 180);
        let at_carrier = exchange(handler, scope, agent(), ringing, out, carrier())?.ok_or("no 180 at the carrier")?;
        expect_status(&at_carrier, 180)?;
        // The CANCEL is answered 200 and its INVITE 487 at once (RFC 3261 §9.2); the agent
        // leg is CANCELled.
        let cancel = carrier_request(&invite, Method::Cancel, None, 1, false);
        let sent = exchange_all(handler, scope, carrier(), cancel, out, &[(carrier(), 200)])?;
        let terminated = last_to(&sent, carrier()).ok_or("no final at the carrier")?;
        let agent_cancel = last_to(&sent, agent()).ok_or("the agent got no CANCEL")?;
        let ack = carrier_request(&invite, Method::Ack, terminated.to().ok().and_then(|t| t.tag), 1, true);
        exchange(handler, scope, carrier(), ack, out, agent())?;
        // The agent answers its CANCEL 200 and its INVITE 487, which we ACK.
        exchange(
            handler,
            scope,
            agent(),
            response_for(&agent_cancel, 200, "OK").build().to_bytes(),
            out,
            carrier(),
        )?;
        exchange(
            handler,
            scope,
            agent(),
            agent_answer(&agent_invite, 487),
            out,
            carrier(),
        )?;
        return Ok(terminated.status().unwrap_or(0));
    }
    let ok = exchange(
        handler,
        scope,
        agent(),
        agent_answer(&agent_invite, 200),
        out,
        carrier(),
    )?
    .ok_or("no 200 at the carrier")?;
    expect_status(&ok, 200)?;
    let our_tag = ok.to().ok().and_then(|t| t.tag).map(Bytes::copy_from_slice);
    let ack = carrier_request(&invite, Method::Ack, our_tag.as_deref(), 1, false);
    exchange(handler, scope, carrier(), ack, out, agent())?.ok_or("the agent got no ACK")?;
    match ending {
        // A BYE is answered at once (RFC 3261 §15.1.2) and relayed to the other leg, whose
        // answer ends the relayed transaction.
        Ending::CarrierBye => {
            let bye = carrier_request(&invite, Method::Bye, our_tag.as_deref(), 2, false);
            let sent = exchange_all(handler, scope, carrier(), bye, out, &[(carrier(), 200)])?;
            let agent_bye = last_to(&sent, agent()).ok_or("the agent got no BYE")?;
            exchange(
                handler,
                scope,
                agent(),
                response_for(&agent_bye, 200, "OK").build().to_bytes(),
                out,
                carrier(),
            )?;
        }
        Ending::AgentBye => {
            let bye = agent_bye(&agent_invite);
            let sent = exchange_all(handler, scope, agent(), bye, out, &[(agent(), 200)])?;
            let carrier_bye = last_to(&sent, carrier()).ok_or("the carrier got no BYE")?;
            exchange(
                handler,
                scope,
                carrier(),
                response_for(&carrier_bye, 200, "OK").build().to_bytes(),
                out,
                agent(),
            )?;
        }
        Ending::Cancel => unreachable!(),
    }
    Ok(200)
}

/// A carrier INVITE with `call_id`, left ringing: `None` when the agent got its INVITE
/// (the call is up on its shard), else the status the carrier got.
pub fn start_call(handler: &SipHandler, call_id: &str, out: &mut Vec<Outgoing>) -> Option<u16> {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let invite = carrier_invite(call_id, n);
    let mut scope = Scope::new(call_id, n);
    out.clear();
    handler.handle(
        Incoming {
            bytes: invite.to_bytes(),
            source: carrier(),
            transport: Transport::Tcp,
            connection: None,
            certificate: None,
        },
        out,
    );
    let ours: Vec<_> = out
        .iter()
        .filter_map(|o| Some((o.destination, Message::parse(o.bytes.clone()).ok()?)))
        .filter(|(_, m)| scope.owns(m))
        .collect();
    if ours.iter().any(|(to, _)| *to == agent()) {
        return None;
    }
    ours.iter().filter_map(|(_, m)| m.status()).find(|s| *s >= 200)
}

/// What tells one call's messages from the others': its Call-IDs (the carrier's, and the
/// one we minted for the agent leg once its INVITE is seen) and its INVITE's mark.
struct Scope {
    call_ids: Vec<Bytes>,
    mark: String,
}

impl Scope {
    fn new(call_id: &str, n: u64) -> Scope {
        Scope {
            call_ids: vec![Bytes::copy_from_slice(call_id.as_bytes())],
            mark: n.to_string(),
        }
    }

    /// Whether `message` belongs to this call (learning the agent leg's Call-ID from its
    /// INVITE).
    fn owns(&mut self, message: &Message) -> bool {
        let call_id = message.call_id().unwrap_or_default();
        if self.call_ids.iter().any(|c| c == call_id) {
            return true;
        }
        let marked = message.method() == Some(&Method::Invite)
            && message.header_by_name("X-Test-Call") == Some(self.mark.as_bytes());
        if marked {
            self.call_ids.push(Bytes::copy_from_slice(call_id));
        }
        marked
    }
}

/// Hand `bytes` from `from` to the handler; the last message it sends to `to`, if any.
fn exchange(
    handler: &SipHandler,
    scope: &mut Scope,
    from: SocketAddr,
    bytes: Bytes,
    out: &mut Vec<Outgoing>,
    to: SocketAddr,
) -> Result<Option<Message>, String> {
    Ok(last_to(&exchange_all(handler, scope, from, bytes, out, &[])?, to))
}

fn last_to(sent: &[(SocketAddr, Message)], to: SocketAddr) -> Option<Message> {
    sent.iter().rev().find(|(d, _)| *d == to).map(|(_, m)| m.clone())
}

/// Hand `bytes` from `from` to the handler, which must answer each `(peer, status)` of
/// `answers`; everything else it sends for this call, in order.
fn exchange_all(
    handler: &SipHandler,
    scope: &mut Scope,
    from: SocketAddr,
    bytes: Bytes,
    out: &mut Vec<Outgoing>,
    answers: &[(SocketAddr, u16)],
) -> Result<Vec<(SocketAddr, Message)>, String> {
    out.clear();
    handler.handle(
        Incoming {
            bytes,
            source: from,
            transport: Transport::Tcp,
            connection: None,
            certificate: None,
        },
        out,
    );
    let mut sent = Vec::new();
    let mut answered = 0;
    for o in out.drain(..) {
        let message = Message::parse(o.bytes).map_err(|e| format!("the handler sent unparsable bytes: {e}"))?;
        if !scope.owns(&message) {
            continue;
        }
        if let Some(status) = message.status() {
            if status == 481 || status >= 500 {
                return Err(format!(
                    "the handler answered {status}: {}",
                    String::from_utf8_lossy(message.raw())
                ));
            }
            if answers.contains(&(o.destination, status)) {
                answered += 1;
                continue;
            }
        }
        sent.push((o.destination, message));
    }
    if answered < answers.len() {
        return Err(format!("expected answers {answers:?}, got {answered} of them"));
    }
    Ok(sent)
}

fn expect_status(message: &Message, status: u16) -> Result<(), String> {
    match message.status() {
        Some(s) if s == status => Ok(()),
        other => Err(format!("expected {status}, got {other:?}")),
    }
}

fn carrier_invite(call_id: &str, n: u64) -> Message {
    RequestBuilder::new(Method::Invite, format!("sip:{DIALED}@{ADVERTISED}").as_bytes())
        .header(
            HeaderName::Via,
            format!("SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKc{n}i"),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:+14155550100@192.0.2.1>;tag=c1")
        .header(HeaderName::To, format!("<sip:{DIALED}@{ADVERTISED}>"))
        .header(HeaderName::CallId, call_id)
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, "<sip:carrier@192.0.2.1:5060;transport=tcp>")
        .header(HeaderName::ContentType, "application/sdp")
        .raw_header(b"X-Test-Call", n.to_string())
        .body(Bytes::from_static(b"v=0\r\ns=-\r\n"))
        .build()
}

/// The carrier's ACK (`non_2xx`: of a failure), CANCEL or BYE.
fn carrier_request(invite: &Message, method: Method, to_tag: Option<&[u8]>, cseq: u32, non_2xx: bool) -> Bytes {
    let call_id = invite.call_id().unwrap_or_default();
    let branch = match (&method, non_2xx) {
        // RFC 3261 §9.1, §17.1.1.3: a CANCEL carries its INVITE's branch, and so does the
        // ACK of a non-2xx final; the ACK of a 2xx is a new transaction.
        (Method::Cancel, _) | (Method::Ack, true) => {
            String::from_utf8_lossy(invite.top_via().unwrap().branch.unwrap()).into_owned()
        }
        _ => format!("z9hG4bK{method}{}", String::from_utf8_lossy(call_id)),
    };
    let to = match to_tag {
        Some(tag) => format!("<sip:{DIALED}@{ADVERTISED}>;tag={}", String::from_utf8_lossy(tag)),
        None => format!("<sip:{DIALED}@{ADVERTISED}>"),
    };
    let method_name = method.to_string();
    RequestBuilder::new(method, format!("sip:switchboard@{ADVERTISED};transport=tcp").as_bytes())
        .header(HeaderName::Via, format!("SIP/2.0/TCP 192.0.2.1:5060;branch={branch}"))
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:+14155550100@192.0.2.1>;tag=c1")
        .header(HeaderName::To, to)
        .header(HeaderName::CallId, call_id)
        .header(HeaderName::CSeq, format!("{cseq} {method_name}"))
        .build()
        .to_bytes()
}

fn agent_answer(agent_invite: &Message, status: u16) -> Bytes {
    let mut answer = response_for(agent_invite, status, "x")
        .to_tag("a1")
        .header(HeaderName::Contact, "<sip:agent@192.0.2.10:5090;transport=tcp>");
    if status == 200 {
        answer = answer
            .header(HeaderName::ContentType, "application/sdp")
            .body(Bytes::from_static(b"v=0\r\ns=agent\r\n"));
    }
    answer.build().to_bytes()
}

/// The agent hangs up: a BYE in the dialog our INVITE opened (the Call-ID we minted).
fn agent_bye(agent_invite: &Message) -> Bytes {
    let our_tag = String::from_utf8_lossy(agent_invite.from().unwrap().tag.unwrap()).into_owned();
    let call_id = agent_invite.call_id().unwrap_or_default();
    RequestBuilder::new(
        Method::Bye,
        format!("sip:switchboard@{ADVERTISED};transport=tcp").as_bytes(),
    )
    .header(
        HeaderName::Via,
        format!(
            "SIP/2.0/TCP 192.0.2.10:5090;branch=z9hG4bKab{}",
            String::from_utf8_lossy(call_id)
        ),
    )
    .header(HeaderName::MaxForwards, "70")
    .header(HeaderName::From, "<sip:agent@livekit.test>;tag=a1")
    .header(HeaderName::To, format!("<sip:x@{ADVERTISED}>;tag={our_tag}"))
    .header(HeaderName::CallId, call_id)
    .header(HeaderName::CSeq, "1 BYE")
    .build()
    .to_bytes()
}
