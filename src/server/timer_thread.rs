//! When the call core's timers run. Whoever holds a shard's lock runs that shard's due
//! timers before letting go (`SipHandler::drain`), so under traffic a timer runs with the
//! next message its shard handles, on a thread that is awake anyway. The timer thread is
//! the backstop for quiet shards: it sleeps until `resolution` after the earliest deadline
//! any shard has published (by then traffic has usually run it, and the thread finds
//! nothing to do and takes no lock), and a shard that sets an earlier deadline wakes it.
//! So no timer is later than `resolution`, and under load the thread neither races the
//! receive threads for each deadline nor wakes once per deadline.
//!
//! It owns the deadlines the shards publish and the thread; it refuses to know what a timer
//! does (the core does).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::SipHandler;
use crate::transport::Dispatcher;

/// "No deadline", in [`Deadlines`]' nanoseconds.
const NEVER: u64 = u64::MAX;
/// How often the timer thread samples the core's gauges and publishes counters.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Each shard's next deadline, and when the timer thread means to wake: nanoseconds since
/// `base`, written and read without a lock.
pub(super) struct Deadlines {
    base: Instant,
    shards: Box<[PaddedDeadline]>,
    /// When the timer thread wakes next, if nobody wakes it sooner.
    wake_at: AtomicU64,
    /// How long after a deadline the thread wakes for it (the resolution), in nanoseconds.
    grace: AtomicU64,
    thread: OnceLock<Thread>,
}

/// One shard's deadline, alone on its cache line (its shard writes it after every verb).
#[derive(Default)]
#[repr(align(64))]
struct PaddedDeadline(AtomicU64);

impl Deadlines {
    pub(super) fn new(shards: usize) -> Deadlines {
        Deadlines {
            base: crate::clock::now(),
            shards: (0..shards.max(1))
                .map(|_| PaddedDeadline(AtomicU64::new(NEVER)))
                .collect(),
            wake_at: AtomicU64::new(NEVER),
            grace: AtomicU64::new(0),
            thread: OnceLock::new(),
        }
    }

    /// Shard `shard`'s next deadline is `next` (under its lock, after each verb). Wakes the
    /// timer thread when that is earlier than it means to wake.
    pub(super) fn publish(&self, shard: usize, next: Option<Instant>) {
        let at = next.map_or(NEVER, |t| self.nanos(t));
        let Some(slot) = self.shards.get(shard) else { return };
        if slot.0.load(Ordering::Relaxed) == at {
            return;
        }
        slot.0.store(at, Ordering::SeqCst);
        let at = at.saturating_add(self.grace.load(Ordering::Relaxed));
        if at < self.wake_at.load(Ordering::SeqCst) {
            self.wake_at.fetch_min(at, Ordering::SeqCst);
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }

    /// Whether shard `shard` has a timer due at `now`, as it last published.
    pub(super) fn due(&self, shard: usize, now: Instant) -> bool {
        self.shards
            .get(shard)
            .is_some_and(|s| s.0.load(Ordering::SeqCst) <= self.nanos(now))
    }

    /// The earliest deadline any shard published.
    pub(super) fn earliest(&self) -> Option<Instant> {
        let at = self.shards.iter().map(|s| s.0.load(Ordering::SeqCst)).min()?;
        (at != NEVER).then(|| self.base + Duration::from_nanos(at))
    }

    /// The timer thread's next wake: `grace` after the earliest deadline, but not after
    /// `latest`. Published first, then the shards are read again, so that a deadline set
    /// meanwhile is either seen here or wakes the thread (both sides write before they
    /// read, sequentially consistent).
    fn plan_wake(&self, grace: Duration, latest: Instant) -> Instant {
        let grace = u64::try_from(grace.as_nanos()).unwrap_or(NEVER);
        let latest = self.nanos(latest);
        self.grace.store(grace, Ordering::Relaxed);
        let plan = || {
            self.earliest()
                .map_or(latest, |t| self.nanos(t).saturating_add(grace).min(latest))
        };
        self.wake_at.store(plan(), Ordering::SeqCst);
        let again = plan();
        self.wake_at.fetch_min(again, Ordering::SeqCst);
        self.base + Duration::from_nanos(self.wake_at.load(Ordering::SeqCst))
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_nanos()).unwrap_or(NEVER - 1)
    }
}

/// The thread that runs call and transaction timers no message ran first; stopped when
/// dropped.
pub(super) struct TimerThread {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TimerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Start the timer thread: it runs what is due, sends what that produced, samples the
/// gauges once a second, and sleeps until `resolution` after the next deadline, or until a
/// shard sets an earlier one.
pub(super) fn spawn(handler: Arc<SipHandler>, dispatcher: Arc<Dispatcher>, resolution: Duration) -> TimerThread {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("sip-timers".into())
        .spawn(move || {
            let deadlines = handler.deadlines();
            let _ = deadlines.thread.set(std::thread::current());
            let mut out = Vec::new();
            let mut sample_at = crate::clock::now();
            while !flag.load(Ordering::Acquire) {
                let now = crate::clock::now();
                if now >= sample_at {
                    sample_at = now + SAMPLE_EVERY;
                    handler.sample_metrics();
                    crate::metrics::upkeep();
                }
                handler.handle_timeout(&mut out);
                for o in out.drain(..) {
                    dispatcher.send(o);
                }
                let wake = deadlines.plan_wake(resolution, sample_at);
                let now = crate::clock::now();
                if wake > now {
                    std::thread::park_timeout(wake - now);
                }
            }
        })
        .expect("spawning the timer thread");
    TimerThread {
        stop,
        thread: Some(thread),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_published_deadline_wins_and_none_is_never() {
        let deadlines = Deadlines::new(3);
        assert_eq!(deadlines.earliest(), None);
        let base = deadlines.base;
        deadlines.publish(0, Some(base + Duration::from_secs(5)));
        deadlines.publish(2, Some(base + Duration::from_secs(2)));
        assert_eq!(deadlines.earliest(), Some(base + Duration::from_secs(2)));
        deadlines.publish(2, None);
        assert_eq!(deadlines.earliest(), Some(base + Duration::from_secs(5)));
        assert!(deadlines.due(0, base + Duration::from_secs(5)));
        assert!(!deadlines.due(0, base + Duration::from_secs(4)));
        assert!(!deadlines.due(1, base + Duration::from_secs(400)), "shard 1 has none");
    }

    const GRACE: Duration = Duration::from_millis(5);

    #[test]
    fn the_wake_is_the_grace_after_the_earliest_deadline_at_the_latest_the_sample() {
        let deadlines = Deadlines::new(2);
        let base = deadlines.base;
        let at = |ms| base + Duration::from_millis(ms);
        assert_eq!(
            deadlines.plan_wake(GRACE, at(1000)),
            at(1000),
            "no deadline: the sample"
        );
        deadlines.publish(1, Some(at(300)));
        assert_eq!(deadlines.plan_wake(GRACE, at(1000)), at(305));
        deadlines.publish(0, Some(at(1)));
        assert_eq!(deadlines.plan_wake(GRACE, at(1000)), at(6));
        deadlines.publish(0, Some(at(999)));
        deadlines.publish(1, None);
        assert_eq!(deadlines.plan_wake(GRACE, at(1000)), at(1000), "not past the sample");
    }

    #[test]
    fn an_earlier_deadline_lowers_the_planned_wake_and_a_later_one_does_not() {
        let deadlines = Deadlines::new(2);
        let base = deadlines.base;
        let at = |ms| base + Duration::from_millis(ms);
        deadlines.plan_wake(GRACE, at(1000));
        deadlines.publish(0, Some(at(400)));
        assert_eq!(deadlines.wake_at.load(Ordering::SeqCst), deadlines.nanos(at(405)));
        deadlines.publish(1, Some(at(700)));
        assert_eq!(deadlines.wake_at.load(Ordering::SeqCst), deadlines.nanos(at(405)));
        deadlines.publish(1, Some(at(2)));
        assert_eq!(deadlines.wake_at.load(Ordering::SeqCst), deadlines.nanos(at(7)));
    }
}
