//! The directory snapshot at 1,000,000 numbers: looking up a dialed number (the hot path)
//! and publishing one write (clone the snapshot, replace one number: one shard is copied).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use switchboard::directory::model::PhoneNumber;
use switchboard::directory::Snapshot;

/// A million when measuring; `cargo test --benches` (no `--bench` flag) only checks that the
/// bench runs, on a small directory, so the test command stays quick in debug builds.
fn numbers() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    }
}

fn number(i: usize) -> PhoneNumber {
    PhoneNumber {
        id: format!("pn_{i}"),
        org_id: format!("org_{}", i % 1000),
        phone_number: format!("+1555{i:07}"),
        trunk_id: "trk".into(),
        inbound_agent_version_id: Some("ver".into()),
        outbound_agent_version_id: None,
        outbound_shareable: false,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

fn directory(c: &mut Criterion) {
    let count = numbers();
    let mut snapshot = Snapshot::empty();
    for i in 0..count {
        snapshot.put_number(number(i));
    }
    let dialed: Vec<String> = (0..1024).map(|i| format!("+1555{:07}", (i * 977) % count)).collect();
    let mut group = c.benchmark_group("directory_1m_numbers");
    let mut i = 0;
    group.bench_function("lookup", |b| {
        b.iter(|| {
            i = (i + 1) % dialed.len();
            black_box(snapshot.number(black_box(&dialed[i])).is_some())
        })
    });
    group.bench_function("publish_one_write", |b| {
        b.iter(|| {
            let mut next = snapshot.clone();
            next.put_number(number(42));
            black_box(next)
        })
    });
    group.finish();
}

criterion_group!(benches, directory);
criterion_main!(benches);
