//! Where a new call's route is decided: a cheap one ([`Router::quick`]) on the thread that
//! received the call, the rest on the routing workers, never on that thread; and with no
//! workers (`[routing] workers = 0`) everything where it was received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::b2bua::B2buaConfig;
use crate::routing::{AgentTarget, RouteKind, RouteRequest};
use crate::sip::RequestBuilder;
use crate::transport::{Connections, Dispatcher, Transport};

/// Decided at once, on any thread.
const STATIC: &str = "+15551230001";
/// Needs a worker (as a workflow's number does).
const WORKFLOW: &str = "+15551230002";

fn carrier() -> SocketAddr {
    "192.0.2.1:5060".parse().unwrap()
}

fn agent() -> SocketAddr {
    "192.0.2.10:5090".parse().unwrap()
}

/// Routes both numbers to the agent; remembers which thread ran `route`, for what.
#[derive(Default)]
struct Split {
    routed_on: Mutex<Vec<(String, String)>>,
}

impl Split {
    fn target() -> Decision {
        Decision::Agent(Box::new(AgentTarget {
            agent_id: "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11".into(),
            agent_version: 1,
            agent_version_id: "ver-1".into(),
            org_id: "org-1".into(),
            trunk_id: "trunk-1".into(),
            livekit_host: "192.0.2.10:5090".into(),
            destination: agent(),
            transport: Transport::Udp,
            kind: RouteKind::Static,
            headers: vec![],
        }))
    }
}

impl Router for Split {
    fn route(&self, request: &RouteRequest<'_>) -> Decision {
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        self.routed_on.lock().unwrap().push((request.called.to_owned(), thread));
        Split::target()
    }

    fn quick(&self, request: &RouteRequest<'_>) -> Option<Decision> {
        (request.called == STATIC).then(Split::target)
    }
}

fn handler(router: Arc<Split>) -> Arc<SipHandler> {
    let config = B2buaConfig {
        advertised: "192.0.2.5:5060".into(),
        ..B2buaConfig::default()
    };
    Arc::new(SipHandler::new(String::new(), B2bua::new(config, 7), router, None))
}

/// Hand the handler a carrier's INVITE to `called`; whether it sent the agent's INVITE
/// before returning.
fn invite(handler: &SipHandler, called: &str, n: u32) -> bool {
    let invite = RequestBuilder::new(Method::Invite, format!("sip:{called}@192.0.2.5:5060").as_bytes())
        .header(
            HeaderName::Via,
            format!("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKq{n}"),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:+14155550100@192.0.2.1>;tag=c1")
        .header(HeaderName::To, format!("<sip:{called}@192.0.2.5>"))
        .header(HeaderName::CallId, format!("quick-{n}@carrier.example"))
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, "<sip:carrier@192.0.2.1:5060>")
        .build();
    let mut out = Vec::new();
    handler.handle(
        Incoming {
            bytes: invite.to_bytes(),
            source: carrier(),
            transport: Transport::Udp,
            connection: None,
            certificate: None,
        },
        &mut out,
    );
    out.iter()
        .any(|o| o.destination == agent() && o.bytes.starts_with(b"INVITE "))
}

#[test]
fn a_quick_route_is_decided_where_the_call_arrived_and_the_rest_on_a_worker() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let router = Arc::new(Split::default());
    let handler = handler(router.clone());
    let dispatcher = Dispatcher::new(None, Connections::new(16, 16), runtime.handle().clone());
    let config = WorkerConfig {
        workers: 1,
        org_workers: 1,
        org_queue: 4,
    };
    handler.start_routing(config, dispatcher);
    assert!(
        invite(&handler, STATIC, 1),
        "the agent is asked before the handler returns"
    );
    assert!(!invite(&handler, WORKFLOW, 2), "the worker asks the agent, later");
    let deadline = Instant::now() + Duration::from_secs(10);
    while router.routed_on.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no worker routed the call");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        *router.routed_on.lock().unwrap(),
        vec![(WORKFLOW.to_owned(), "routing-0".to_owned())],
        "only the call that needs a worker reaches one"
    );
}

#[test]
fn without_workers_every_route_is_decided_where_the_call_arrived() {
    let router = Arc::new(Split::default());
    let handler = handler(router.clone());
    assert!(invite(&handler, STATIC, 1));
    assert!(invite(&handler, WORKFLOW, 2));
    let here = std::thread::current().name().unwrap_or("").to_owned();
    assert_eq!(
        *router.routed_on.lock().unwrap(),
        vec![(STATIC.to_owned(), here.clone()), (WORKFLOW.to_owned(), here)]
    );
}
