//! Host names resolved off the call path: the LiveKit hosts (the configured one and each
//! org's), carrier trunk hosts and the static table's endpoint. Routing asks through
//! [`HostLookup`] and gets an answer from memory; this module keeps that memory fresh.
//!
//! A real DNS resolver (`hickory-resolver`: `/etc/hosts`, then `/etc/resolv.conf`'s servers
//! or `[resolver] nameservers`) does the lookups on the shell's tokio runtime. RFC 3263
//! §4.2: a host written without a port is first looked up as SRV (`_sip._udp`, `_sip._tcp`,
//! `_sips._tcp` by transport), then A/AAAA. Each answer is kept for its TTL (clamped to
//! `[min_ttl_secs, max_ttl_secs]`; a failure for `negative_ttl_secs`) and resolved again
//! just before it expires, so that when a host moves in DNS calls follow it once the TTL
//! passes, with no restart and no call waiting for DNS. An answer past its TTL is still
//! used while its refresh is in flight (a DNS outage does not stop calls).
//!
//! The one wait: a name never seen before (an org or trunk created a moment ago) waits
//! for its first answer, at most `first_lookup_ms`. Names in the directory are resolved
//! when they appear ([`Resolver::want`], fed by the shell on each directory change), so
//! that wait is rare. It refuses to decide anything about calls.

mod config;

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hickory_resolver::config::{NameServerConfig, NameServerConfigGroup, ResolverConfig as DnsConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;

pub use config::ResolverConfig;

use crate::routing::{HostLookup, HostName};
use crate::transport::Transport;

/// A host to keep resolved: name, port as written, transport.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wanted {
    pub name: String,
    pub port: Option<u16>,
    pub transport: Transport,
}

impl Wanted {
    pub fn of(host: &HostName<'_>) -> Wanted {
        Wanted {
            name: host.name.to_owned(),
            port: host.port,
            transport: host.transport,
        }
    }

    fn host(&self) -> HostName<'_> {
        HostName {
            name: &self.name,
            port: self.port,
            transport: self.transport,
        }
    }
}

/// What is known of one host.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// `None`: not resolved yet, or the last lookup failed.
    addr: Option<SocketAddr>,
    /// When to resolve again.
    valid_until: Instant,
    /// A lookup is in flight.
    resolving: bool,
    /// At least one lookup finished.
    answered: bool,
    last_used: Instant,
}

/// The shell's resolver; cheap to clone, shared by every router.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    dns: TokioResolver,
    runtime: tokio::runtime::Handle,
    config: ResolverConfig,
    cache: DashMap<Wanted, Entry>,
    /// Signalled each time a lookup finishes (first lookups wait on it).
    answered: (Mutex<()>, Condvar),
}

/// Hosts not used for this long are forgotten (no more refreshes).
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// How often entries are checked for expiry.
const REFRESH_TICK: Duration = Duration::from_millis(250);

impl Resolver {
    /// A resolver on `runtime`, with its refresh task running for as long as the runtime
    /// (or the last clone of this resolver) lives.
    pub fn new(config: &ResolverConfig, runtime: tokio::runtime::Handle) -> Resolver {
        let (dns_config, mut options) = if config.nameservers.is_empty() {
            hickory_resolver::system_conf::read_system_conf().unwrap_or_else(|err| {
                tracing::warn!(%err, "no usable /etc/resolv.conf: only /etc/hosts and IP literals resolve");
                (
                    DnsConfig::from_parts(None, vec![], NameServerConfigGroup::new()),
                    ResolverOpts::default(),
                )
            })
        } else {
            let mut group = NameServerConfigGroup::new();
            for addr in &config.nameservers {
                group.push(NameServerConfig::new(*addr, Protocol::Udp));
                group.push(NameServerConfig::new(*addr, Protocol::Tcp));
            }
            (DnsConfig::from_parts(None, vec![], group), ResolverOpts::default())
        };
        options.timeout = Duration::from_millis(config.first_lookup_ms.max(1));
        options.attempts = 2;
        // The answers are kept here, with their TTL: a second cache below would hand an
        // early refresh the answer it already has.
        options.cache_size = 0;
        let dns = TokioResolver::builder_with_config(dns_config, TokioConnectionProvider::default())
            .with_options(options)
            .build();
        let inner = Arc::new(Inner {
            dns,
            runtime: runtime.clone(),
            config: config.clone(),
            cache: DashMap::new(),
            answered: (Mutex::new(()), Condvar::new()),
        });
        runtime.spawn(refresh_loop(Arc::downgrade(&inner)));
        Resolver { inner }
    }

    /// Keep `hosts` resolved from now on (names only; IP literals need nothing): each new
    /// one is looked up at once, off the caller's thread.
    pub fn want(&self, hosts: impl IntoIterator<Item = Wanted>) {
        let now = Instant::now();
        for wanted in hosts {
            if wanted.host().literal().is_some() || self.inner.cache.contains_key(&wanted) {
                continue;
            }
            self.inner.cache.insert(wanted.clone(), Entry::pending(now));
            self.inner.spawn_lookup(wanted);
        }
    }

    /// Hosts being kept resolved (for tests and logs).
    pub fn known(&self) -> usize {
        self.inner.cache.len()
    }
}

impl Entry {
    fn pending(now: Instant) -> Entry {
        Entry {
            addr: None,
            valid_until: now,
            resolving: true,
            answered: false,
            last_used: now,
        }
    }
}

impl HostLookup for Resolver {
    fn lookup(&self, host: &HostName<'_>) -> Option<SocketAddr> {
        if let Some(addr) = host.literal() {
            return Some(addr);
        }
        let wanted = Wanted::of(host);
        match self.inner.answer(&wanted) {
            Some(answer) => answer,
            None => self.inner.wait_first(&wanted),
        }
    }

    /// As [`Resolver::lookup`], but a name whose first answer has not come is `None` at
    /// once (its lookup is started, for the routing worker that will wait for it).
    fn peek(&self, host: &HostName<'_>) -> Option<SocketAddr> {
        if let Some(addr) = host.literal() {
            return Some(addr);
        }
        self.inner.answer(&Wanted::of(host)).flatten()
    }
}

impl Inner {
    /// What is known of `wanted` once a lookup has answered (`Some(None)`: it does not
    /// resolve), its refresh started when it is past its TTL; `None` while the first lookup
    /// is in flight (started here for a name never seen before).
    fn answer(self: &Arc<Inner>, wanted: &Wanted) -> Option<Option<SocketAddr>> {
        let now = Instant::now();
        let Some(mut entry) = self.cache.get_mut(wanted) else {
            self.cache.insert(wanted.clone(), Entry::pending(now));
            self.spawn_lookup(wanted.clone());
            return None;
        };
        entry.last_used = now;
        if !entry.answered {
            return None;
        }
        let addr = entry.addr;
        if now >= entry.valid_until && !entry.resolving {
            entry.resolving = true;
            drop(entry);
            self.spawn_lookup(wanted.clone());
        }
        Some(addr)
    }

    fn spawn_lookup(self: &Arc<Inner>, wanted: Wanted) {
        let inner = self.clone();
        self.runtime.spawn(async move {
            let (addr, ttl) = inner.resolve(&wanted).await;
            let now = Instant::now();
            if let Some(mut entry) = inner.cache.get_mut(&wanted) {
                if addr != entry.addr && entry.answered {
                    tracing::info!(host = %wanted.name, from = ?entry.addr, to = ?addr, "host moved");
                }
                entry.addr = addr.or(if entry.answered { entry.addr } else { None });
                entry.valid_until = now + ttl;
                entry.resolving = false;
                entry.answered = true;
            }
            let _guard = inner.answered.0.lock();
            inner.answered.1.notify_all();
        });
    }

    /// Wait (bounded) for a host's first answer.
    fn wait_first(&self, wanted: &Wanted) -> Option<SocketAddr> {
        let deadline = Instant::now() + Duration::from_millis(self.config.first_lookup_ms);
        let mut guard = self.answered.0.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match self.cache.get(wanted) {
                Some(entry) if entry.answered => return entry.addr,
                None => return None,
                Some(_) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            guard = self
                .answered
                .1
                .wait_timeout(guard, left.min(Duration::from_millis(50)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// One lookup: SRV first when no port is written (RFC 3263 §4.2), then A/AAAA. The
    /// address and how long it holds.
    async fn resolve(&self, wanted: &Wanted) -> (Option<SocketAddr>, Duration) {
        let negative = Duration::from_secs(self.config.negative_ttl_secs);
        let (name, port, srv_ttl) = match wanted.port {
            Some(port) => (wanted.name.clone(), port, None),
            None => match self.srv(wanted).await {
                Some((target, port, ttl)) => (target, port, Some(ttl)),
                None => (wanted.name.clone(), wanted.host().default_port(), None),
            },
        };
        let Ok(ips) = self.dns.lookup_ip(name.as_str()).await else {
            tracing::warn!(host = %wanted.name, "host name does not resolve");
            return (None, negative);
        };
        let Some(ip) = ips.iter().next() else {
            return (None, negative);
        };
        let ttl = ips.valid_until().saturating_duration_since(Instant::now());
        let ttl = srv_ttl.map_or(ttl, |srv| srv.min(ttl));
        (Some(SocketAddr::new(ip, port)), self.clamp(ttl))
    }

    /// The SRV record to use: lowest priority, then highest weight (RFC 2782).
    async fn srv(&self, wanted: &Wanted) -> Option<(String, u16, Duration)> {
        let service = match wanted.transport {
            Transport::Udp => "_sip._udp",
            Transport::Tcp => "_sip._tcp",
            Transport::Tls => "_sips._tcp",
        };
        let name = format!("{service}.{}.", wanted.name.trim_end_matches('.'));
        let found = self.dns.srv_lookup(name).await.ok()?;
        let ttl = found
            .as_lookup()
            .valid_until()
            .saturating_duration_since(Instant::now());
        let best = found
            .iter()
            .min_by_key(|srv| (srv.priority(), std::cmp::Reverse(srv.weight())))?;
        let target = best.target().to_utf8();
        Some((target, best.port(), ttl))
    }

    fn clamp(&self, ttl: Duration) -> Duration {
        let min = Duration::from_secs(self.config.min_ttl_secs);
        let max = Duration::from_secs(self.config.max_ttl_secs.max(self.config.min_ttl_secs));
        ttl.clamp(min, max)
    }
}

/// Resolve each host again as its TTL runs out (a little before, so that calls after the
/// TTL already see the new answer); forget hosts nobody used for an hour.
async fn refresh_loop(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(REFRESH_TICK);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let now = Instant::now();
        inner
            .cache
            .retain(|_, e| now.duration_since(e.last_used) < FORGET_AFTER);
        let due: Vec<Wanted> = inner
            .cache
            .iter_mut()
            .filter_map(|mut e| {
                let due = !e.resolving && e.answered && e.valid_until <= now + REFRESH_TICK;
                if due {
                    e.resolving = true;
                }
                due.then(|| e.key().clone())
            })
            .collect();
        for wanted in due {
            inner.spawn_lookup(wanted);
        }
    }
}

#[cfg(test)]
mod tests;
