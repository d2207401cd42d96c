//! Sharding pays: whole calls (INVITE, 200, ACK, BYE, 200; carrier and agent scripted in
//! process, no sockets) driven through the SIP handler from two threads at once, with the
//! call core as one shard and as two, in the same run. Criterion reports each (one element
//! per call); then an A/B of alternating rounds prints the median ratio of calls/s, two
//! shards over one, which is the figure BENCHMARKS.md quotes (issue 16 asks for >= 1.6).

#[path = "../tests/common/in_process.rs"]
mod in_process;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use switchboard::server::SipHandler;

const THREADS: u64 = 2;
/// Calls that failed (a thread descheduled past Timer B, 64 ms here, on a loaded machine).
static FAILED: AtomicU64 = AtomicU64::new(0);

/// Wall time for `threads` threads to complete `calls` calls between them. The shards'
/// due timers run with the messages (finished transactions are swept as in the server,
/// where the timer thread only serves quiet shards).
fn run(handler: &SipHandler, threads: u64, calls: u64) -> Duration {
    let per_thread = calls.div_ceil(threads);
    let start = std::sync::Barrier::new(threads as usize + 1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut out = Vec::new();
                start.wait();
                for _ in 0..per_thread {
                    if in_process::call(handler, in_process::Ending::CarrierBye, &mut out).is_err() {
                        FAILED.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        start.wait();
        let began = Instant::now();
        // The scope joins the threads before it returns.
        began
    })
    .elapsed()
}

fn shards(c: &mut Criterion) {
    let mut group = c.benchmark_group("calls_from_2_threads");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(8));
    for shards in [1, 2] {
        let handler = in_process::swept_handler(shards, 1_000_000);
        group.bench_function(format!("{shards}_shards"), |b| {
            b.iter_custom(|calls| run(&handler, THREADS, calls))
        });
    }
    group.finish();
}

/// Alternating rounds of one and two shards (so that load from elsewhere hits both alike):
/// the median of the rounds' ratios of calls per second. `SHARDS_ROUNDS` sets how many
/// (default 9; 0: none, for profiling one criterion bench alone).
fn same_run_ratio() {
    const CALLS: u64 = 20_000;
    let rounds: usize = std::env::var("SHARDS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(9);
    if rounds == 0 {
        return;
    }
    let one = in_process::swept_handler(1, 1_000_000);
    let two = in_process::swept_handler(2, 1_000_000);
    run(&one, THREADS, CALLS / 4);
    run(&two, THREADS, CALLS / 4);
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = run(&one, THREADS, CALLS);
            (a, run(&two, THREADS, CALLS))
        } else {
            let b = run(&two, THREADS, CALLS);
            (run(&one, THREADS, CALLS), b)
        };
        let per_second = |d: Duration| CALLS as f64 / d.as_secs_f64();
        println!(
            "round {round}: 1 shard {:.0} calls/s, 2 shards {:.0} calls/s, ratio {:.2}",
            per_second(a),
            per_second(b),
            a.as_secs_f64() / b.as_secs_f64()
        );
        ratios.push(a.as_secs_f64() / b.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "2 shards / 1 shard, calls/s from {THREADS} threads: median ratio {:.2} over {rounds} rounds",
        ratios[rounds / 2]
    );
    println!("calls failed in the whole run: {}", FAILED.load(Ordering::Relaxed));
}

criterion_group!(benches, shards);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Not under `cargo test --benches` (criterion's test mode runs each bench once).
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        same_run_ratio();
    }
}
