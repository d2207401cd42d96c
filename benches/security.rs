//! The edge's per-request defences: the source ACL lookup with 10,000 trunk CIDRs, a rate
//! limiter check, and a Digest verification (success and forged-nonce paths).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rand::{Rng, SeedableRng};
use switchboard::security::{parse_challenge, Admission, Credential, DigestServer, RateLimiter, SourceAcl};

/// 10,000 CIDRs over 2,000 trunks: mostly /32 hosts and /24–/30 carrier ranges, a few wide
/// blocks, some IPv6.
fn acl_entries() -> Vec<(String, Vec<String>)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    (0..10_000)
        .map(|i| {
            let cidr = match i % 10 {
                0 => {
                    let len = rng.random_range(32..=64);
                    let net = u128::from(rng.random::<u64>()) << 64 & u128::MAX.checked_shl(128 - len).unwrap_or(0);
                    format!("{}/{len}", std::net::Ipv6Addr::from(net | 0x2001_0db8 << 96))
                }
                1..=5 => Ipv4Addr::from(rng.random::<u32>()).to_string(),
                _ => {
                    let len: u32 = rng.random_range(16..=30);
                    let net = rng.random::<u32>() & u32::MAX << (32 - len);
                    format!("{}/{len}", Ipv4Addr::from(net))
                }
            };
            (format!("trunk-{}", i % 2_000), vec![cidr])
        })
        .collect()
}

fn acl(c: &mut Criterion) {
    let entries = acl_entries();
    let (acl, errors) = SourceAcl::build(entries.clone());
    assert!(errors.is_empty(), "{errors:?}");
    let hit: IpAddr = entries[1].1[0].parse().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let probes: Vec<IpAddr> = (0..1024)
        .map(|_| IpAddr::from(Ipv4Addr::from(rng.random::<u32>())))
        .collect();
    let mut group = c.benchmark_group("source_acl_10k");
    group.bench_function("owners_hit", |b| b.iter(|| acl.owners(black_box(hit)).len()));
    let mut i = 0;
    group.bench_function("owners_random_v4", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            acl.owners(black_box(probes[i])).len()
        })
    });
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    group.bench_function("owners_v6", |b| b.iter(|| acl.owners(black_box(v6)).len()));
    group.bench_function("build", |b| {
        b.iter(|| SourceAcl::build(black_box(entries.clone())).0.block_count())
    });
    group.finish();
}

fn rate(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut group = c.benchmark_group("rate_limiter");
    let limiter: RateLimiter = RateLimiter::new(1e9, 1e9, 5.0);
    let ip = IpAddr::from([192, 0, 2, 1]);
    group.bench_function("check_one_source", |b| {
        b.iter(|| limiter.check(black_box(t0), black_box(&ip)))
    });
    let spray: RateLimiter = RateLimiter::new(1.0, 2.0, 5.0);
    let mut n = 0u32;
    group.bench_function("check_distinct_sources", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let now = t0 + Duration::from_nanos(u64::from(n));
            spray.check(now, &IpAddr::from(Ipv4Addr::from(n)))
        })
    });
    let trunks: RateLimiter<String> = RateLimiter::new(1e9, 1e9, 5.0);
    group.bench_function("check_trunk", |b| {
        b.iter(|| trunks.check(black_box(t0), black_box("trunk-42")))
    });
    group.finish();
    assert_eq!(limiter.check(t0, &ip), Admission::Allow);
}

fn digest(c: &mut Criterion) {
    let t0 = Instant::now();
    let server = DigestServer::new([7; 32], "sb.example", Duration::from_secs(300));
    let lookup = |user: &str| (user == "alice").then(|| Credential::from("s3cret"));
    let mut group = c.benchmark_group("digest_verify");
    for (name, index) in [("sha256", 0), ("md5", 1)] {
        let challenge = parse_challenge(&server.challenge(t0, false)[index]).unwrap();
        let mut nc = 0u32;
        // Each verify needs a fresh nonce-count; writing the answer is setup, not timed.
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    nc += 1;
                    challenge.answer("INVITE", "sip:+15551230000@sb.example", "alice", "s3cret", "c0ffee", nc)
                },
                |value| server.verify(t0, "INVITE", &value, lookup).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    let mut challenge = parse_challenge(&server.challenge(t0, false)[0]).unwrap();
    challenge.nonce.replace_range(0..4, "AAAA");
    let forged = challenge.answer("INVITE", "sip:x", "alice", "s3cret", "c", 1);
    group.bench_function("forged_nonce", |b| {
        b.iter(|| server.verify(t0, "INVITE", black_box(&forged), lookup))
    });
    let answer = parse_challenge(&server.challenge(t0, false)[0]).unwrap();
    group.bench_function("client_answer_sha256", |b| {
        b.iter(|| answer.answer("INVITE", "sip:x", "alice", black_box("s3cret"), "c", 1))
    });
    group.bench_function("challenge", |b| b.iter(|| server.challenge(black_box(t0), false)));
    group.finish();
}

criterion_group!(benches, acl, rate, digest);
criterion_main!(benches);
