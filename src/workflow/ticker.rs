//! The epoch ticker: a thread that bumps the engine's epoch every millisecond while a run
//! is in progress (a run's deadline is counted in those ticks), and parks once no run has
//! been in progress for a while, so that an engine no call uses costs no wake-ups (it cost
//! a wake-up a millisecond, on every server, workflows or not).
//!
//! A run holds a [`Ticking`] guard for as long as it runs; taking one wakes a parked ticker.
//! Taking a guard and parking use the two flags in opposite orders, so a wake-up is never
//! lost: either the ticker sees the run, or the run sees the parked ticker and unparks it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

/// One epoch tick: the resolution of `deadline_ms`.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks without a run before the ticker parks.
const IDLE_TICKS: u32 = 100;

/// The ticker thread; dropping it stops and joins the thread.
pub(super) struct Ticker {
    state: Arc<State>,
    thread: Thread,
    handle: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    running: AtomicUsize,
    parked: AtomicBool,
    stop: AtomicBool,
    /// Ticks so far (for tests and curiosity; the engine keeps its own epoch).
    ticks: AtomicU64,
}

/// Keeps the ticker ticking while a run holds it.
#[must_use]
pub(super) struct Ticking<'t>(&'t Ticker);

impl Ticker {
    pub fn start(engine: wasmtime::Engine) -> std::io::Result<Ticker> {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let handle = std::thread::Builder::new()
            .name("workflow-epoch".into())
            .spawn(move || tick(&engine, &shared))?;
        Ok(Ticker {
            state,
            thread: handle.thread().clone(),
            handle: Some(handle),
        })
    }

    /// A run begins: the epoch advances until the guard drops.
    pub fn ticking(&self) -> Ticking<'_> {
        self.state.running.fetch_add(1, SeqCst);
        if self.state.parked.load(SeqCst) {
            self.thread.unpark();
        }
        Ticking(self)
    }

    #[cfg(test)]
    pub fn ticks(&self) -> u64 {
        self.state.ticks.load(SeqCst)
    }

    #[cfg(test)]
    pub fn is_parked(&self) -> bool {
        self.state.parked.load(SeqCst)
    }

    #[cfg(test)]
    pub fn is_stopped(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.0.state.running.fetch_sub(1, SeqCst);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.state.stop.store(true, SeqCst);
        self.thread.unpark();
        if let Some(handle) = self.handle.take() {
            // The thread only ticks; a panic there (impossible) must not become a double panic.
            let _ = handle.join();
        }
    }
}

fn tick(engine: &wasmtime::Engine, state: &State) {
    let mut idle = 0;
    while !state.stop.load(SeqCst) {
        if state.running.load(SeqCst) > 0 {
            idle = 0;
        } else {
            idle += 1;
        }
        if idle >= IDLE_TICKS {
            state.parked.store(true, SeqCst);
            if state.running.load(SeqCst) == 0 && !state.stop.load(SeqCst) {
                // Spurious returns are harmless: the loop looks again.
                std::thread::park();
            }
            state.parked.store(false, SeqCst);
            idle = 0;
            continue;
        }
        std::thread::sleep(EPOCH_TICK);
        engine.increment_epoch();
        state.ticks.fetch_add(1, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        done()
    }

    #[test]
    fn an_idle_ticker_parks_and_a_run_wakes_it() {
        let ticker = Ticker::start(wasmtime::Engine::default()).unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || ticker.is_parked()),
            "never parked"
        );
        let parked_at = ticker.ticks();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(ticker.ticks(), parked_at, "a parked ticker ticked");
        let run = ticker.ticking();
        assert!(
            wait_until(Duration::from_secs(10), || ticker.ticks() >= parked_at + 3),
            "a run did not wake the ticker"
        );
        assert!(!ticker.is_parked());
        drop(run);
        assert!(
            wait_until(Duration::from_secs(10), || ticker.is_parked()),
            "did not park again"
        );
    }

    #[test]
    fn dropping_the_ticker_stops_its_thread_even_while_parked() {
        let ticker = Ticker::start(wasmtime::Engine::default()).unwrap();
        assert!(wait_until(Duration::from_secs(10), || ticker.is_parked()));
        let state = ticker.state.clone();
        drop(ticker);
        // `drop` joined the thread; it saw the stop flag.
        assert!(state.stop.load(SeqCst));
    }
}
