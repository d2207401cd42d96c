//! The gate every request passes before any call work (STYLE: refuse cheaply and early):
//! banned strangers and scanners are dropped (a source a trunk or LiveKit lists, or that
//! proved a trunk's password, is never banned on what a forgeable datagram claims: its
//! datagram is dropped and counted instead); LiveKit's ranges pass for requests inside
//! dialogs and, from the outbound sources, for outbound INVITEs (with LiveKit's digest
//! credentials when configured), while a new inbound call from them meets the trunks; a
//! source no trunk claims gets the configured answer (403, or nothing) before any directory
//! lookup, workflow or agent leg; a trunk that pins TLS client certificates claims only
//! requests that came with one of them; new calls are rate-limited per source (before any
//! challenge) and per trunk (503 + Retry-After, silence past a flood); a trunk that
//! authenticates by digest is challenged; and a trunk's source may only reach that trunk's
//! numbers. No transaction state is created for anything refused here: the answers are
//! stateless.
//!
//! Its own module, between the transports and the call core: `server/` only wires it in,
//! and `security/` keeps the parts it combines (ACLs, bans, rates, digest), which never
//! read the directory; the gate does, to know the trunks. An admitted new call carries the
//! carrier the gate identified ([`Verdict::Admitted`]) into the core and its record.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::b2bua::CarrierId;
use crate::directory::{Directory, Snapshot};
use crate::metrics::LocalCounters;
use crate::security::{
    is_scanner, Admission as Rate, BanList, CertFingerprint, CertificatePins, Credential, DigestServer, PinEntry,
    RateLimiter, SecurityConfig, SourceAcl, UnknownSource,
};
use crate::sip::{HeaderName, Message, Method};

/// What to do with a request.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Go on to the call core. `carrier`: whose carrier a new inbound call came from — the
    /// trunk it came in by (the dialed number's, the one trunk the source or certificate
    /// names, or the one whose password it proved) and its org, or only the org when several
    /// of its trunks share the source; `None` inside dialogs and for LiveKit's calls.
    Admitted { carrier: Option<CarrierId> },
    /// Answer statelessly (the answer each refusal gets: `src/status.rs`): no Server
    /// header; to a source that is no trunk's (a stranger), never bigger than the request.
    Refuse(GateRefusal),
    /// Send nothing.
    Drop,
}

/// Why the gate answers a request instead of admitting it.
#[derive(Debug, PartialEq)]
pub enum GateRefusal {
    /// Prove a trunk's (or LiveKit's) password: our digest offers (`WWW-Authenticate`
    /// values), most preferred first. `stranger`: the source is no trunk's.
    Challenge { offers: Vec<String>, stranger: bool },
    /// Too many new calls from the source or for the trunk; the next token comes in
    /// `retry_after_secs`.
    RateLimited { retry_after_secs: u32 },
    /// A source no trunk claims, a failed password, an unpinned certificate, a number on
    /// another trunk: the stranger's answer, alike for each.
    Stranger,
}

impl GateRefusal {
    /// Whether the answer goes to a source that is no trunk's (anti-amplification applies).
    pub fn to_stranger(&self) -> bool {
        match self {
            GateRefusal::Challenge { stranger, .. } => *stranger,
            GateRefusal::RateLimited { .. } => false,
            GateRefusal::Stranger => true,
        }
    }
}

/// Who sent a request, as far as the transport knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub ip: IpAddr,
    /// The fingerprint of the TLS certificate on the connection it came by.
    pub certificate: Option<CertFingerprint>,
}

impl Origin {
    /// A source with no certificate (UDP, TCP, or TLS without one).
    pub fn address(ip: IpAddr) -> Origin {
        Origin { ip, certificate: None }
    }
}

/// The trunks' sources, certificates and credentials, rebuilt when the directory changes.
struct TrunkIndex {
    snapshot: Arc<Snapshot>,
    acl: SourceAcl,
    pins: CertificatePins,
    /// Trunks that authenticate by digest: username -> its trunk.
    credentials: HashMap<String, DigestTrunk>,
    /// Trunks that require digest even from a listed address.
    auth_required: std::collections::HashSet<String>,
}

/// A trunk's digest credentials.
struct DigestTrunk {
    trunk: String,
    password: String,
    /// The trunk lists no source and pins no certificate: the password alone names it, from
    /// anywhere. Otherwise it is only a second proof after the address or certificate.
    alone: bool,
}

/// The gate.
pub struct Gate {
    config: SecurityConfig,
    directory: Arc<Directory>,
    livekit: SourceAcl,
    index: Mutex<Arc<TrunkIndex>>,
    sources: RateLimiter<IpAddr>,
    trunks: RateLimiter<String>,
    trunk_rates: Mutex<HashMap<String, Arc<RateLimiter<String>>>>,
    bans: BanList,
    /// Sources that answered a trunk's digest challenge rightly, each for `PROVEN_FOR`
    /// from its last success (a `BanList` used as a set that forgets): like listed sources,
    /// never banned on a datagram's claims, so a digest-only carrier cannot be locked out
    /// by someone forging its address.
    proven: BanList,
    /// The LiveKit sources whose new INVITEs are agents' outbound calls (`[outbound]`).
    outbound: SourceAcl,
    digest: DigestServer,
    /// `[routing] default_country`: the country of a dialed number without `+`.
    country: String,
    /// `sip_admission_total` by verdict, registered once: a `counter!` with a label per
    /// request looked the key up in the registry (about 900 instructions a time).
    verdicts: Arc<LocalCounters>,
}

/// How long a source that answered a digest challenge rightly counts as a carrier's (never
/// banned, its in-dialog requests admitted), from its last success or in-dialog request: a
/// day, longer than any call, so that a long call's BYE still gets through.
const PROVEN_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The `verdict` labels of `sip_admission_total`.
const VERDICTS: [&str; 5] = ["admitted", "challenged", "rate_limited", "refused", "dropped"];

impl Gate {
    pub fn new(config: SecurityConfig, directory: Arc<Directory>) -> Gate {
        let livekit = config.livekit_acl().unwrap_or_else(|_| SourceAcl::build([]).0);
        let sources = RateLimiter::with_capacity(
            config.source_calls_per_sec,
            config.source_burst,
            config.flood_factor,
            config.rate_tracked_keys,
        );
        let trunks = RateLimiter::with_capacity(
            config.trunk_calls_per_sec,
            config.trunk_burst,
            config.flood_factor,
            config.rate_tracked_keys,
        );
        let bans = BanList::with_capacity(
            config.ban_threshold,
            config.ban_window(),
            config.ban_duration(),
            config.ban_tracked_sources,
        );
        let proven = BanList::with_capacity(0, config.ban_window(), PROVEN_FOR, config.ban_tracked_sources);
        let digest = DigestServer::new(rand::random(), config.digest_realm.clone(), config.nonce_ttl());
        let index = Mutex::new(Arc::new(build_index(directory.snapshot())));
        Gate {
            config,
            directory,
            livekit,
            index,
            sources,
            trunks,
            trunk_rates: Mutex::new(HashMap::new()),
            bans,
            proven,
            outbound: SourceAcl::build([]).0,
            digest,
            country: crate::routing::RoutingConfig::default().default_country,
            verdicts: LocalCounters::new(
                VERDICTS
                    .iter()
                    .map(|v| metrics::counter!("sip_admission_total", "verdict" => *v))
                    .collect(),
            ),
        }
    }

    /// Key digest nonces with `secret` (the store's, shared by every instance on it) and
    /// stamp them with the wall clock (`at` was `unix_ms`), so that a nonce issued by any
    /// instance, or before a restart, verifies here. Bans and rate limits stay this
    /// process's own.
    pub fn with_shared_nonces(mut self, secret: [u8; 32], at: std::time::Instant, unix_ms: u64) -> Gate {
        let realm = self.config.digest_realm.clone();
        self.digest = DigestServer::new(secret, realm, self.config.nonce_ttl()).with_wall_clock(at, unix_ms);
        self
    }

    /// New INVITEs from these LiveKit sources are agents' outbound calls (`[outbound]
    /// livekit_sources`); only those sources' new INVITEs skip the trunks.
    pub fn with_outbound_sources(mut self, sources: &[String]) -> Gate {
        let (acl, errors) = SourceAcl::build([("livekit".to_owned(), sources.to_vec())]);
        for error in errors {
            tracing::warn!(%error, "an outbound LiveKit source is ignored");
        }
        self.outbound = acl;
        self
    }

    /// Read dialed numbers without `+` as national numbers of `country` (`[routing]
    /// default_country`), as the B2BUA does.
    pub fn with_default_country(mut self, country: &str) -> Gate {
        country.clone_into(&mut self.country);
        self
    }

    /// The verdict on a request from `origin`, after parsing and before anything else.
    pub fn check(&self, now: Instant, origin: Origin, request: &Message) -> Verdict {
        let verdict = self.decide(now, origin, request);
        let index = match &verdict {
            Verdict::Admitted { .. } => 0,
            Verdict::Refuse(GateRefusal::Challenge { .. }) => 1,
            Verdict::Refuse(GateRefusal::RateLimited { .. }) => 2,
            Verdict::Refuse(GateRefusal::Stranger) => 3,
            Verdict::Drop => 4,
        };
        self.verdicts.increment(index);
        verdict
    }

    fn decide(&self, now: Instant, origin: Origin, request: &Message) -> Verdict {
        let source = origin.ip;
        let method = request.method();
        let new_call = matches!(method, Some(Method::Invite)) && request.to_tag().is_none();
        let is_ack = matches!(method, Some(Method::Ack));
        let index = self.index();
        let livekit = self.livekit.contains(source);
        // A UDP source address is forgeable: a source a trunk or LiveKit lists, or one that
        // proved a trunk's password lately, is never banned on what a datagram claims (its
        // User-Agent, a wrong password); the datagram is dropped or refused and counted.
        // Bans fall on strangers.
        let listed = livekit || !index.acl.owners(source).is_empty() || self.proven.is_banned(now, source);
        if !listed && self.bans.is_banned(now, source) {
            return self.dropped("banned");
        }
        if request.header(HeaderName::UserAgent).is_some_and(is_scanner) {
            if listed {
                return self.dropped("scanner_from_listed_source");
            }
            if self.config.scanner_ban {
                self.bans.ban(now, source, self.config.ban_duration());
                metrics::counter!("sip_bans_total", "reason" => "scanner").increment(1);
            }
            return self.dropped("scanner");
        }
        if livekit {
            // LiveKit may send requests inside its dialogs (agent legs, outbound calls) and,
            // from the outbound sources, new outbound INVITEs; a new inbound call from it
            // meets the trunks like any other source's.
            if !new_call {
                return Verdict::Admitted { carrier: None };
            }
            if self.outbound.contains(source) {
                return self.livekit_outbound(now, request);
            }
        }
        let claims = index.pins.claims(index.acl.owners(source), origin.certificate);
        let mut trunks = claims.trunks;
        let asks_digest = |t: &str| index.auth_required.contains(t);
        // A claimed source calling a number on a claimed trunk that asks for digest is
        // challenged, even when another trunk sharing the source asks for none.
        let called_trunk_asks = || {
            crate::b2bua::dialed_number(request, &self.country)
                .and_then(|c| index.snapshot.number(&c).map(|n| n.trunk_id.clone()))
                .is_some_and(|t| trunks.contains(&t.as_str()) && asks_digest(&t))
        };
        let needs_digest = new_call
            && (trunks.is_empty() && !index.credentials.is_empty()
                || !trunks.is_empty() && (trunks.iter().all(|t| asks_digest(t)) || called_trunk_asks()));
        // Every new call a trunk may claim, challenged or not, spends the source's tokens
        // first: this also bounds the challenges a forged source can draw toward its victim.
        if new_call && (needs_digest || !trunks.is_empty()) {
            if let Some(refused) = self.limit(now, &self.sources, &crate::security::source_key(source), "source") {
                return refused;
            }
        }
        if needs_digest {
            match self.authenticate(now, source, listed, request, &index, &trunks) {
                Ok(trunk) => trunks = vec![trunk],
                Err(verdict) => return verdict,
            }
        } else if new_call {
            // A trunk that also asks for digest is not claimed by its address or certificate
            // alone, though another trunk sharing them is.
            trunks.retain(|t| !index.auth_required.contains(*t));
        }
        if trunks.is_empty() && !new_call && self.proven.is_banned(now, source) {
            // A digest-only carrier lists no address: its requests inside the calls it
            // authenticated (ACK, BYE, re-INVITE, CANCEL) are admitted by its proof, and the
            // B2BUA answers 481 to any that match no dialog.
            self.proven.ban(now, source, PROVEN_FOR);
            return Verdict::Admitted { carrier: None };
        }
        if trunks.is_empty() {
            return match (is_ack, claims.certificate_refused) {
                (true, _) => Verdict::Drop,
                (false, true) => self.stranger("client_certificate"),
                (false, false) => self.stranger("unknown_source"),
            };
        }
        if !new_call {
            return Verdict::Admitted { carrier: None };
        }
        // A trunk's carrier may reach that trunk's numbers only; the answer to a number on
        // another trunk is the stranger's, byte for byte.
        let called = crate::b2bua::dialed_number(request, &self.country);
        let number_trunk = called
            .as_deref()
            .and_then(|c| index.snapshot.number(c))
            .map(|n| n.trunk_id.clone());
        if let Some(trunk) = &number_trunk {
            if !trunks.contains(&trunk.as_str()) {
                return self.stranger("wrong_trunk");
            }
        }
        // Several trunks sharing the source, and the number none of theirs: the first one's
        // bucket pays, but the call is nobody's in particular.
        let identified = number_trunk.or_else(|| (trunks.len() == 1).then(|| trunks[0].to_owned()));
        let charged = identified.as_deref().unwrap_or(trunks[0]);
        let limiter = self.trunk_limiter(&index, charged);
        if let Some(refused) = self.limit(
            now,
            limiter.as_deref().unwrap_or(&self.trunks),
            &charged.to_owned(),
            "trunk",
        ) {
            return refused;
        }
        Verdict::Admitted {
            carrier: carrier_of(&index.snapshot, identified.as_deref(), &trunks),
        }
    }

    /// Digest (RFC 3261 §22.2): the trunk whose credentials the request proves, or the
    /// answer that asks for them.
    fn authenticate<'i>(
        &self,
        now: Instant,
        source: IpAddr,
        listed: bool,
        request: &Message,
        index: &'i TrunkIndex,
        allowed: &[&str],
    ) -> Result<&'i str, Verdict> {
        let value = request
            .header(HeaderName::Authorization)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let verified = self.digest.verify(now, "INVITE", &value, |user| {
            let digest = index.credentials.get(user)?;
            let claimed = match allowed.is_empty() {
                true => digest.alone,
                false => allowed.contains(&digest.trunk.as_str()),
            };
            claimed.then(|| Credential::Password(digest.password.clone()))
        });
        match verified {
            Ok(ok) => {
                self.proven.ban(now, source, PROVEN_FOR);
                Ok(index
                    .credentials
                    .get(&ok.username)
                    .map(|d| d.trunk.as_str())
                    .unwrap_or_default())
            }
            Err(failure) => {
                if failure.counts_as_failure() {
                    metrics::counter!("sip_auth_failures_total").increment(1);
                    if !listed && self.bans.record_failure(now, source) {
                        metrics::counter!("sip_bans_total", "reason" => "auth_failures").increment(1);
                    }
                    return Err(self.stranger("auth_failed"));
                }
                Err(self.challenge(now, failure.stale(), true))
            }
        }
    }

    /// A challenge offering our algorithms, most preferred first.
    fn challenge(&self, now: Instant, stale: bool, stranger: bool) -> Verdict {
        let offers = self.digest.challenge(now, stale);
        let offers = self
            .config
            .digest_algorithms
            .iter()
            .filter_map(|algorithm| {
                let wanted = format!("algorithm={algorithm},");
                offers.iter().find(|o| o.contains(&wanted))
            })
            .cloned()
            .collect();
        Verdict::Refuse(GateRefusal::Challenge { offers, stranger })
    }

    /// An outbound INVITE from a LiveKit source: with `livekit_auth_username` set, it must
    /// also prove LiveKit's outbound-trunk credentials (an address range alone is forgeable
    /// over UDP); a wrong answer is refused and counted, never a ban (LiveKit is listed).
    fn livekit_outbound(&self, now: Instant, request: &Message) -> Verdict {
        let user = self.config.livekit_auth_username.as_str();
        if user.is_empty() {
            return Verdict::Admitted { carrier: None };
        }
        let value = request
            .header(HeaderName::Authorization)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let password = &self.config.livekit_auth_password;
        let verified = self.digest.verify(now, "INVITE", &value, |presented| {
            (presented == user).then(|| Credential::Password(password.0.clone()))
        });
        match verified {
            Ok(_) => Verdict::Admitted { carrier: None },
            Err(failure) if failure.counts_as_failure() => {
                metrics::counter!("sip_auth_failures_total").increment(1);
                self.stranger("livekit_auth_failed")
            }
            Err(failure) => self.challenge(now, failure.stale(), false),
        }
    }

    fn limit<K>(&self, now: Instant, limiter: &RateLimiter<K>, key: &K, what: &'static str) -> Option<Verdict>
    where
        K: std::hash::Hash + Eq + Clone,
    {
        match limiter.check(now, key) {
            Rate::Allow => None,
            Rate::Limit { retry_after_secs } => {
                metrics::counter!("sip_rate_limited_total", "key" => what, "action" => "503").increment(1);
                Some(Verdict::Refuse(GateRefusal::RateLimited { retry_after_secs }))
            }
            Rate::Drop => {
                metrics::counter!("sip_rate_limited_total", "key" => what, "action" => "drop").increment(1);
                Some(Verdict::Drop)
            }
        }
    }

    /// A trunk with its own `max_calls_per_second` gets its own bucket.
    fn trunk_limiter(&self, index: &TrunkIndex, trunk: &str) -> Option<Arc<RateLimiter<String>>> {
        let rate = index.snapshot.trunks.get(trunk)?.inbound_config.max_calls_per_second?;
        let mut limiters = self.trunk_rates.lock().unwrap_or_else(|p| p.into_inner());
        let limiter = limiters.entry(trunk.to_owned()).or_insert_with(|| {
            Arc::new(RateLimiter::with_capacity(
                rate,
                rate.max(1.0),
                self.config.flood_factor,
                16,
            ))
        });
        Some(limiter.clone())
    }

    fn stranger(&self, reason: &'static str) -> Verdict {
        metrics::counter!("sip_refused_total", "reason" => reason).increment(1);
        match self.config.unknown_source {
            UnknownSource::Reject => Verdict::Refuse(GateRefusal::Stranger),
            UnknownSource::Drop => Verdict::Drop,
        }
    }

    fn dropped(&self, reason: &'static str) -> Verdict {
        metrics::counter!("sip_refused_total", "reason" => reason).increment(1);
        Verdict::Drop
    }

    /// The trunk index of the current directory, rebuilt after a change.
    fn index(&self) -> Arc<TrunkIndex> {
        let snapshot = self.directory.snapshot();
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&index.snapshot, &snapshot) {
            *index = Arc::new(build_index(snapshot));
        }
        index.clone()
    }
}

/// Whose a new call is: the identified trunk and its org, else the org every trunk that
/// claimed the source belongs to (none when they are several orgs').
fn carrier_of(snapshot: &Snapshot, identified: Option<&str>, claimed: &[&str]) -> Option<CarrierId> {
    if let Some(trunk) = identified {
        return Some(CarrierId {
            org_id: snapshot.trunks.get(trunk)?.org_id.clone(),
            trunk_id: Some(trunk.to_owned()),
        });
    }
    let mut orgs = claimed
        .iter()
        .filter_map(|t| snapshot.trunks.get(*t))
        .map(|t| &t.org_id);
    let first = orgs.next()?;
    orgs.all(|org| org == first).then(|| CarrierId {
        org_id: first.clone(),
        trunk_id: None,
    })
}

fn build_index(snapshot: Arc<Snapshot>) -> TrunkIndex {
    let (acl, errors) = SourceAcl::build(
        snapshot
            .trunks
            .values()
            .map(|t| (t.id.clone(), t.inbound_config.allowed_sources.clone())),
    );
    for error in errors {
        tracing::warn!(%error, "a trunk's allowed source is ignored");
    }
    let (pins, errors) = CertificatePins::build(snapshot.trunks.values().map(|t| PinEntry {
        trunk: &t.id,
        fingerprints: &t.inbound_config.tls_client_fingerprints,
        has_sources: !t.inbound_config.allowed_sources.is_empty(),
    }));
    for (trunk, error) in errors {
        tracing::warn!(%trunk, %error, "a trunk's client-certificate fingerprint is ignored");
    }
    let mut credentials = HashMap::new();
    let mut auth_required = std::collections::HashSet::new();
    for trunk in snapshot.trunks.values() {
        let inbound = &trunk.inbound_config;
        if let Some(user) = &inbound.auth_username {
            if inbound.auth_password.0.is_empty() {
                // Kept in the index so that the trunk still asks for digest; an empty secret
                // matches no answer (`Credential::is_empty`).
                tracing::warn!(trunk = %trunk.id, "a digest trunk has no stored password: its calls are refused until one is set");
            }
            let digest = DigestTrunk {
                trunk: trunk.id.clone(),
                password: inbound.auth_password.0.clone(),
                alone: inbound.allowed_sources.is_empty() && inbound.tls_client_fingerprints.is_empty(),
            };
            credentials.insert(user.clone(), digest);
            auth_required.insert(trunk.id.clone());
        }
    }
    TrunkIndex {
        snapshot,
        acl,
        pins,
        credentials,
        auth_required,
    }
}

#[cfg(test)]
mod tests;
