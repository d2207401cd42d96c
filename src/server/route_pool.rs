//! The routing workers: new calls' routes that may take long (an org's wasm workflow; a
//! host's first DNS answer, for the LiveKit host or an agent's carrier) are decided here,
//! on a few dedicated threads, never under the call core's lock nor on a receive thread.
//! The B2BUA asks (`Route`), a worker runs the router and hands the decision back. Cheap
//! routes (`Routers::quick`: the static table, a number whose org runs no workflow, a host
//! already resolved) never come here: the SIP thread decides them itself, as handing one
//! over and back costs more than deciding it.
//!
//! Fairness between orgs: an org's calls hold at most `org_workers` workers at once; its
//! further calls wait in its own queue (served round-robin with other orgs'), and past
//! `org_queue` waiting the next is refused at once (503), so one org's slow workflow cannot
//! occupy every worker nor delay another org's calls. Calls of no known org (numbers the
//! directory does not host: a 404, or the static table) are cheap and not capped.
//!
//! It refuses to touch call state: the decision goes back through a [`Deliver`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::SystemTime;

use crate::b2bua::{CallKey, Route};
use crate::routing::{Query, Routed, Routers};

/// The workers' knobs (`[routing] workers`, `org_workers`, `org_queue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Threads that run routers.
    pub workers: usize,
    /// Workers one org's calls may hold at once.
    pub org_workers: usize,
    /// Calls of one org that may wait for a worker; the next is refused with 503.
    pub org_queue: usize,
}

impl WorkerConfig {
    pub fn of(routing: &crate::routing::RoutingConfig) -> WorkerConfig {
        WorkerConfig {
            workers: routing.workers,
            org_workers: routing.org_workers,
            org_queue: routing.org_queue,
        }
    }
}

/// Where decisions go: back into the call core, and what it then sends, out.
pub trait Deliver: Send + Sync + 'static {
    fn deliver(&self, call: CallKey, decision: Routed);
}

/// The worker pool; its threads end when it is dropped (after the job at hand).
pub struct RoutePool {
    shared: Arc<Shared>,
    routers: Arc<Routers>,
}

/// Why a call was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Its org has `org_workers` calls being routed and `org_queue` waiting.
    OrgBusy,
}

struct Job {
    call: CallKey,
    facts: Query,
    span: tracing::Span,
}

/// One org's share: calls being routed, calls waiting.
#[derive(Default)]
struct OrgShare {
    running: usize,
    waiting: VecDeque<Job>,
    /// In `ready` (has a call waiting and a worker to spare).
    ready: bool,
}

#[derive(Default)]
struct Queues {
    orgs: HashMap<Option<String>, OrgShare>,
    /// Orgs whose next call may start, round-robin.
    ready: VecDeque<Option<String>>,
    stopped: bool,
}

struct Shared {
    config: WorkerConfig,
    queues: Mutex<Queues>,
    wake: Condvar,
}

impl RoutePool {
    /// Start `config.workers` threads routing with `routers`, delivering to `deliver`.
    pub fn start(config: WorkerConfig, routers: Routers, deliver: Arc<dyn Deliver>) -> RoutePool {
        let routers = Arc::new(routers);
        let shared = Arc::new(Shared {
            config,
            queues: Mutex::new(Queues::default()),
            wake: Condvar::new(),
        });
        for i in 0..config.workers.max(1) {
            let (shared, routers, deliver) = (shared.clone(), routers.clone(), deliver.clone());
            std::thread::Builder::new()
                .name(format!("routing-{i}"))
                .spawn(move || work(&shared, &routers, &*deliver))
                .expect("spawning a routing worker");
        }
        RoutePool { shared, routers }
    }

    /// Queue a call for routing under its org's share (no known org: not capped).
    pub fn submit(&self, route: Route) -> Result<(), (Rejected, Route)> {
        let org = self.routers.org_of(&route.facts);
        let config = self.shared.config;
        let mut queues = self.shared.lock();
        let share = queues.orgs.entry(org.clone()).or_default();
        let capped = org.is_some();
        // Waiting calls are bounded whether the org's share is full or every worker is
        // taken by other orgs: either way they wait, and no more than org_queue of them.
        if capped && share.waiting.len() >= config.org_queue {
            return Err((Rejected::OrgBusy, route));
        }
        share.waiting.push_back(Job {
            call: route.call,
            facts: route.facts,
            span: tracing::Span::current(),
        });
        let startable = !capped || share.running < config.org_workers;
        if startable && !share.ready {
            share.ready = true;
            queues.ready.push_back(org);
            drop(queues);
            self.shared.wake.notify_one();
        }
        Ok(())
    }
}

impl Drop for RoutePool {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.wake.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next call to route (waiting for one), taking a worker of its org's share.
    fn next(&self) -> Option<(Option<String>, Job)> {
        let mut queues = self.lock();
        loop {
            if queues.stopped {
                return None;
            }
            if let Some(org) = queues.ready.pop_front() {
                let cap = if org.is_some() {
                    self.config.org_workers
                } else {
                    usize::MAX
                };
                let share = queues.orgs.get_mut(&org).expect("a ready org has a share");
                share.ready = false;
                let Some(job) = share.waiting.pop_front() else { continue };
                share.running += 1;
                if !share.waiting.is_empty() && share.running < cap {
                    share.ready = true;
                    queues.ready.push_back(org.clone());
                    self.wake.notify_one();
                }
                return Some((org, job));
            }
            queues = self.wake.wait(queues).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// A call of `org` is routed: its worker is free for the org's next call.
    fn done(&self, org: Option<String>) {
        let mut queues = self.lock();
        let Some(share) = queues.orgs.get_mut(&org) else { return };
        share.running -= 1;
        if share.waiting.is_empty() {
            if share.running == 0 {
                queues.orgs.remove(&org);
            }
            return;
        }
        if !share.ready {
            share.ready = true;
            queues.ready.push_back(org);
            drop(queues);
            self.wake.notify_one();
        }
    }
}

fn work(shared: &Shared, routers: &Routers, deliver: &dyn Deliver) {
    yield_to_the_sip_threads();
    while let Some((org, job)) = shared.next() {
        let _entered = job.span.enter();
        // The workflow's wall clock, read here: routing reads no clock itself.
        let decision = routers.decide(&job.facts, SystemTime::now());
        shared.done(org);
        deliver.deliver(job.call, decision);
    }
}

/// How much less CPU weight a routing worker has than the SIP threads (a nice value): a
/// workflow that runs to its deadline on every core must not delay the next datagram, so
/// the scheduler hands the CPU to a woken SIP thread at once.
const WORKER_NICE: i32 = 10;

/// Lower the calling thread's CPU priority to [`WORKER_NICE`] (Linux: a thread has its own
/// nice value, and `setpriority(PRIO_PROCESS, 0, ..)` sets the caller's). Raising the nice
/// value needs no privilege; a failure only leaves the thread at the SIP threads' weight.
fn yield_to_the_sip_threads() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads no memory of ours; it takes plain integers.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, WORKER_NICE) };
    #[cfg(not(target_os = "linux"))]
    let rc = 0;
    if rc != 0 {
        tracing::debug!(err = %std::io::Error::last_os_error(), "routing worker keeps its CPU priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::outbound::NoOutbound;
    use crate::routing::{Decision, Refusal, RouteQuery, RouteRequest, Router};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Routes "+1slow" calls after `hold`, the rest at once; counts calls in progress.
    struct Slow {
        hold: Duration,
        running: AtomicUsize,
        most: AtomicUsize,
    }

    impl Router for Slow {
        fn route(&self, request: &RouteRequest<'_>) -> Decision {
            if request.called == "+1slow" {
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(self.hold);
                self.running.fetch_sub(1, Ordering::SeqCst);
            }
            Decision::Refuse(Refusal::NoAgent)
        }

        fn org_of(&self, called: &str) -> Option<String> {
            Some(if called == "+1slow" { "org-a" } else { "org-b" }.to_owned())
        }
    }

    struct Collect(Mutex<Vec<(CallKey, std::time::Instant)>>);

    impl Deliver for Collect {
        fn deliver(&self, call: CallKey, _: Routed) {
            self.0.lock().unwrap().push((call, std::time::Instant::now()));
        }
    }

    fn route(call: u64, called: &str) -> Route {
        let invite = crate::sip::Message::parse(bytes::Bytes::from_static(
            b"INVITE sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        Route {
            call: CallKey(call),
            facts: Query::Inbound(Box::new(RouteQuery {
                called: called.into(),
                caller: String::new(),
                caller_name: None,
                source: "127.0.0.1:5060".parse().unwrap(),
                call_id: bytes::Bytes::from_static(b"c"),
                invite,
            })),
        }
    }

    /// A pool whose router holds each call `hold`, with org A's call 1 already running.
    fn slow_org_running(config: WorkerConfig, hold: Duration) -> (RoutePool, Arc<Slow>, Arc<Collect>) {
        let router = Arc::new(Slow {
            hold,
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        });
        let delivered = Arc::new(Collect(Mutex::new(Vec::new())));
        let routers = Routers {
            inbound: router.clone(),
            outbound: Arc::new(NoOutbound),
        };
        let pool = RoutePool::start(config, routers, delivered.clone());
        assert!(pool.submit(route(1, "+1slow")).is_ok());
        while router.running.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        (pool, router, delivered)
    }

    #[test]
    fn one_slow_org_holds_its_share_of_workers_and_others_pass_it() {
        // Ordering, not wall-clock bounds, so that a loaded machine cannot fail it: org A's
        // router holds each call 300 ms, so A's second call is delivered no sooner than
        // 600 ms in, and every one of org B's calls must be delivered before it.
        let config = WorkerConfig {
            workers: 3,
            org_workers: 1,
            org_queue: 10,
        };
        let (pool, router, delivered) = slow_org_running(config, Duration::from_millis(300));
        // Org A: one running (call 1), ten waiting, the twelfth refused at once.
        for call in 2..=11 {
            assert!(pool.submit(route(call, "+1slow")).is_ok(), "A's call {call}");
        }
        let refused = pool.submit(route(12, "+1slow")).unwrap_err();
        assert_eq!((refused.0, refused.1.call), (Rejected::OrgBusy, CallKey(12)));
        // Org B's ten calls fit its own share and queue, and pass A's waiting calls.
        for call in 100..110 {
            assert!(pool.submit(route(call, "+1fast")).is_ok(), "B's call {call}");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while delivered.0.lock().unwrap().len() < 21 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let order: Vec<u64> = delivered.0.lock().unwrap().iter().map(|(c, _)| c.0).collect();
        assert_eq!(order.len(), 21, "A's eleven and B's ten: {order:?}");
        let last_b = order.iter().rposition(|c| *c >= 100).unwrap();
        let a_before_last_b = order[..last_b].iter().filter(|c| **c < 100).count();
        assert!(a_before_last_b <= 1, "B's calls waited behind A's: {order:?}");
        let a_order: Vec<u64> = order.iter().copied().filter(|c| *c < 100).collect();
        assert_eq!(
            a_order,
            (1..=11).collect::<Vec<_>>(),
            "A's calls one after another, in order"
        );
        assert_eq!(router.most.load(Ordering::SeqCst), 1, "never more than A's share");
    }

    #[test]
    fn an_orgs_waiting_calls_are_bounded_while_other_orgs_hold_every_worker() {
        // One worker, held by org A; org B has no call running (under its share) yet its
        // calls wait all the same, and past org_queue the next is refused.
        let config = WorkerConfig {
            workers: 1,
            org_workers: 2,
            org_queue: 3,
        };
        let (pool, _, _) = slow_org_running(config, Duration::from_millis(500));
        for call in 100..103 {
            assert!(pool.submit(route(call, "+1fast")).is_ok(), "B's call {call}");
        }
        let refused = pool.submit(route(103, "+1fast")).unwrap_err();
        assert_eq!((refused.0, refused.1.call), (Rejected::OrgBusy, CallKey(103)));
    }
}
