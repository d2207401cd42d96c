//! The gate every request passes before any call work (STYLE: refuse cheaply and early):
//! banned sources and scanners are dropped; LiveKit's ranges pass; a source no trunk
//! claims gets the configured answer (403, or nothing) before any directory lookup,
//! workflow or agent leg; a trunk that pins TLS client certificates claims only requests
//! that came with one of them; a trunk that authenticates by digest is challenged; new calls are
//! rate-limited per source and per trunk (503 + Retry-After, silence past a flood); and a
//! trunk's source may only reach that trunk's numbers. No transaction state is created for
//! anything refused here: the answers are stateless.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::directory::{Directory, Snapshot};
use crate::security::{
    is_scanner, Admission as Rate, BanList, CertFingerprint, CertificatePins, Credential, DigestServer, PinEntry,
    RateLimiter, SecurityConfig, SourceAcl, UnknownSource,
};
use crate::sip::{HeaderName, Message, Method};

/// What to do with a request.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Admit,
    /// Answer statelessly: no Server header; to a source that is no trunk's (a `stranger`),
    /// never bigger than the request.
    Refuse {
        status: u16,
        headers: Vec<(HeaderName, String)>,
        stranger: bool,
    },
    /// Send nothing.
    Drop,
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
    digest: DigestServer,
}

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
            digest,
        }
    }

    /// The verdict on a request from `origin`, after parsing and before anything else.
    pub fn check(&self, now: Instant, origin: Origin, request: &Message) -> Verdict {
        let verdict = self.decide(now, origin, request);
        let label = match &verdict {
            Verdict::Admit => "admitted",
            Verdict::Refuse { status: 401, .. } => "challenged",
            Verdict::Refuse { status: 503, .. } => "rate_limited",
            Verdict::Refuse { .. } => "refused",
            Verdict::Drop => "dropped",
        };
        metrics::counter!("sip_admission_total", "verdict" => label).increment(1);
        verdict
    }

    fn decide(&self, now: Instant, origin: Origin, request: &Message) -> Verdict {
        let source = origin.ip;
        if self.bans.is_banned(now, source) {
            return self.dropped("banned");
        }
        if request.header(HeaderName::UserAgent).is_some_and(is_scanner) {
            if self.config.scanner_ban {
                self.bans.ban(now, source, self.config.ban_duration());
                metrics::counter!("sip_bans_total", "reason" => "scanner").increment(1);
            }
            return self.dropped("scanner");
        }
        if self.livekit.contains(source) {
            return Verdict::Admit;
        }
        let index = self.index();
        let claims = index.pins.claims(index.acl.owners(source), origin.certificate);
        let method = request.method();
        let new_call = matches!(method, Some(Method::Invite)) && request.to_tag().is_none();
        let is_ack = matches!(method, Some(Method::Ack));
        let mut trunks = claims.trunks;
        let needs_digest = new_call
            && (trunks.is_empty() && !index.credentials.is_empty()
                || !trunks.is_empty() && trunks.iter().all(|t| index.auth_required.contains(*t)));
        if needs_digest {
            match self.authenticate(now, source, request, &index, &trunks) {
                Ok(trunk) => trunks = vec![trunk],
                Err(verdict) => return verdict,
            }
        } else if new_call {
            // A trunk that also asks for digest is not claimed by its address or certificate
            // alone, though another trunk sharing them is.
            trunks.retain(|t| !index.auth_required.contains(*t));
        }
        if trunks.is_empty() {
            return match (is_ack, claims.certificate_refused) {
                (true, _) => Verdict::Drop,
                (false, true) => self.stranger("client_certificate"),
                (false, false) => self.stranger("unknown_source"),
            };
        }
        if !new_call {
            return Verdict::Admit;
        }
        if let Some(refused) = self.limit(now, &self.sources, &crate::security::source_key(source), "source") {
            return refused;
        }
        // A trunk's carrier may reach that trunk's numbers only; the answer to a number on
        // another trunk is the stranger's, byte for byte.
        let called = crate::b2bua::dialed_number(request);
        let number_trunk = called
            .as_deref()
            .and_then(|c| index.snapshot.number(c))
            .map(|n| n.trunk_id.clone());
        if let Some(trunk) = &number_trunk {
            if !trunks.contains(&trunk.as_str()) {
                return self.stranger("wrong_trunk");
            }
        }
        let trunk = number_trunk.unwrap_or_else(|| trunks[0].to_owned());
        let limiter = self.trunk_limiter(&index, &trunk);
        if let Some(refused) = self.limit(now, limiter.as_deref().unwrap_or(&self.trunks), &trunk, "trunk") {
            return refused;
        }
        Verdict::Admit
    }

    /// Digest (RFC 3261 §22.2): the trunk whose credentials the request proves, or the
    /// answer that asks for them.
    fn authenticate<'i>(
        &self,
        now: Instant,
        source: IpAddr,
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
            Ok(ok) => Ok(index
                .credentials
                .get(&ok.username)
                .map(|d| d.trunk.as_str())
                .unwrap_or_default()),
            Err(failure) => {
                if failure.counts_as_failure() {
                    metrics::counter!("sip_auth_failures_total").increment(1);
                    if self.bans.record_failure(now, source) {
                        metrics::counter!("sip_bans_total", "reason" => "auth_failures").increment(1);
                    }
                    return Err(self.stranger("auth_failed"));
                }
                let offers = self.digest.challenge(now, failure.stale());
                let headers = self
                    .config
                    .digest_algorithms
                    .iter()
                    .filter_map(|algorithm| {
                        let wanted = format!("algorithm={algorithm},");
                        offers.iter().find(|o| o.contains(&wanted))
                    })
                    .map(|v| (HeaderName::WwwAuthenticate, v.clone()))
                    .collect();
                Err(Verdict::Refuse {
                    status: 401,
                    headers,
                    stranger: true,
                })
            }
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
                Some(Verdict::Refuse {
                    status: 503,
                    headers: vec![(HeaderName::RetryAfter, retry_after_secs.to_string())],
                    stranger: false,
                })
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
            UnknownSource::Reject => Verdict::Refuse {
                status: 403,
                headers: Vec::new(),
                stranger: true,
            },
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
mod tests {
    use super::*;
    use crate::directory::model::{InboundConfig, Secret, Trunk};
    use crate::directory::Object;
    use crate::sip::{Message, Method, RequestBuilder};
    use crate::store::SqliteStore;

    const CARRIER_A: &str = "192.0.2.10";
    const CARRIER_B: &str = "198.51.100.20";
    const STRANGER: &str = "203.0.113.66";

    fn trunk(id: &str, sources: &[&str], auth: Option<(&str, &str)>) -> Object {
        pinned(id, sources, &[], auth)
    }

    /// A trunk that pins these client certificates.
    fn pinned(id: &str, sources: &[&str], certificates: &[CertFingerprint], auth: Option<(&str, &str)>) -> Object {
        Object::Trunk(Trunk {
            id: id.into(),
            org_id: "org_demo".into(),
            name: id.into(),
            managed_account_id: None,
            inbound_config: InboundConfig {
                allowed_sources: sources.iter().map(|s| s.to_string()).collect(),
                auth_username: auth.map(|a| a.0.to_owned()),
                auth_password: Secret(auth.map_or(String::new(), |a| a.1.to_owned())),
                tls_client_fingerprints: certificates.iter().map(|c| c.to_string()).collect(),
                ..InboundConfig::default()
            },
            outbound_config: None,
            created_at: "t".into(),
            updated_at: "t".into(),
        })
    }

    /// The demo directory, its BYOC trunk moved to carrier A, a second trunk for carrier B
    /// holding +15557654321, and a digest-only trunk.
    fn gate(config: SecurityConfig) -> (Gate, tempfile::TempDir) {
        gate_of(config, true)
    }

    fn gate_of(config: SecurityConfig, with_digest_trunk: bool) -> (Gate, tempfile::TempDir) {
        let digest = with_digest_trunk.then(|| trunk("trk_digest", &[], Some(("carrier-c", "s3cret"))));
        gate_with(config, digest.into_iter().collect())
    }

    /// The demo directory with carriers A and B, and `extra` objects.
    fn gate_with(config: SecurityConfig, extra: Vec<Object>) -> (Gate, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let directory = Arc::new(Directory::load(store).unwrap());
        crate::directory::ensure_demo(&directory, "t").unwrap();
        let mut number = (**directory.snapshot().number("+15557654321").unwrap()).clone();
        number.trunk_id = "trk_b".into();
        directory
            .commit(
                vec![
                    trunk("trk_demo_byoc", &[CARRIER_A], None),
                    trunk("trk_demo_managed", &[], None),
                    trunk("trk_b", &[CARRIER_B], None),
                    Object::PhoneNumber(number),
                ]
                .into_iter()
                .chain(extra)
                .collect(),
                vec![],
            )
            .unwrap();
        let config = SecurityConfig {
            livekit_sources: vec!["10.9.9.0/24".into()],
            ..config
        };
        (Gate::new(config, directory), dir)
    }

    fn invite(number: &str, headers: &[(HeaderName, &str)]) -> Message {
        let mut b = RequestBuilder::new(Method::Invite, format!("sip:{number}@edge").as_bytes())
            .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx")
            .header(HeaderName::From, "<sip:+14155550100@carrier>;tag=f")
            .header(HeaderName::To, format!("<sip:{number}@edge>"))
            .header(HeaderName::CallId, "c1")
            .header(HeaderName::CSeq, "1 INVITE");
        for (name, value) in headers {
            b = b.header(*name, *value);
        }
        b.build()
    }

    fn ip(s: &str) -> Origin {
        Origin::address(s.parse().unwrap())
    }

    fn forbidden() -> Verdict {
        Verdict::Refuse {
            status: 403,
            headers: vec![],
            stranger: true,
        }
    }

    #[test]
    fn a_stranger_gets_the_same_403_whether_the_number_exists_or_not() {
        let (gate, _d) = gate_of(SecurityConfig::default(), false);
        let now = Instant::now();
        for number in [crate::directory::DEMO_NUMBER, "+15550000000", "+15557654321"] {
            assert_eq!(
                gate.check(now, ip(STRANGER), &invite(number, &[])),
                forbidden(),
                "{number}"
            );
        }
        let (drop_gate, _d) = gate_with_drop();
        assert_eq!(
            drop_gate.check(now, ip(STRANGER), &invite("+15550000000", &[])),
            Verdict::Drop
        );
    }

    fn gate_with_drop() -> (Gate, tempfile::TempDir) {
        gate_of(
            SecurityConfig {
                unknown_source: UnknownSource::Drop,
                ..SecurityConfig::default()
            },
            false,
        )
    }

    #[test]
    fn a_trunk_reaches_its_own_numbers_only() {
        let (gate, _d) = gate(SecurityConfig::default());
        let now = Instant::now();
        assert_eq!(
            gate.check(now, ip(CARRIER_A), &invite(crate::directory::DEMO_NUMBER, &[])),
            Verdict::Admit
        );
        assert_eq!(
            gate.check(now, ip(CARRIER_A), &invite("+15557654321", &[])),
            forbidden(),
            "trk_b's number"
        );
        assert_eq!(
            gate.check(now, ip(CARRIER_B), &invite("+15557654321", &[])),
            Verdict::Admit
        );
        assert_eq!(
            gate.check(now, ip(CARRIER_A), &invite("+15550000000", &[])),
            Verdict::Admit,
            "a trunk learns 404 for numbers nobody hosts"
        );
        assert_eq!(
            gate.check(now, ip("10.9.9.5"), &invite("+15557654321", &[])),
            Verdict::Admit,
            "LiveKit"
        );
    }

    #[test]
    fn scanners_are_dropped_and_stay_banned() {
        let (gate, _d) = gate(SecurityConfig::default());
        let now = Instant::now();
        let scan = invite(
            crate::directory::DEMO_NUMBER,
            &[(HeaderName::UserAgent, "friendly-scanner")],
        );
        assert_eq!(gate.check(now, ip(CARRIER_A), &scan), Verdict::Drop);
        assert_eq!(
            gate.check(now, ip(CARRIER_A), &invite(crate::directory::DEMO_NUMBER, &[])),
            Verdict::Drop,
            "banned after scanning"
        );
        let later = now + gate.config.ban_duration() + std::time::Duration::from_secs(1);
        assert_eq!(
            gate.check(later, ip(CARRIER_A), &invite(crate::directory::DEMO_NUMBER, &[])),
            Verdict::Admit
        );
    }

    #[test]
    fn a_flooding_source_gets_503_then_silence_and_another_source_is_untouched() {
        let (gate, _d) = gate(SecurityConfig {
            source_calls_per_sec: 10.0,
            source_burst: 10.0,
            trunk_calls_per_sec: 1000.0,
            trunk_burst: 1000.0,
            ..SecurityConfig::default()
        });
        let now = Instant::now();
        let call = invite(crate::directory::DEMO_NUMBER, &[]);
        let verdicts: Vec<_> = (0..200).map(|_| gate.check(now, ip(CARRIER_A), &call)).collect();
        assert!(verdicts[..10].iter().all(|v| *v == Verdict::Admit));
        assert!(matches!(verdicts[10], Verdict::Refuse { status: 503, .. }));
        assert_eq!(verdicts[199], Verdict::Drop, "past the flood threshold");
        assert_eq!(
            gate.check(now, ip(CARRIER_B), &invite("+15557654321", &[])),
            Verdict::Admit
        );
        let later = now + std::time::Duration::from_secs(5);
        assert_eq!(gate.check(later, ip(CARRIER_A), &call), Verdict::Admit, "refilled");
    }

    fn challenge(verdict: Verdict) -> Vec<String> {
        match verdict {
            Verdict::Refuse {
                status: 401, headers, ..
            } => headers.into_iter().map(|(_, v)| v).collect(),
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    #[test]
    fn strangers_are_challenged_alike_when_a_trunk_authenticates_by_digest() {
        let (gate, _d) = gate(SecurityConfig::default());
        let now = Instant::now();
        for number in [crate::directory::DEMO_NUMBER, "+15550000000"] {
            assert_eq!(challenge(gate.check(now, ip(STRANGER), &invite(number, &[]))).len(), 2);
        }
    }

    #[test]
    fn a_digest_trunk_is_challenged_and_admitted_on_the_right_answer_only() {
        let (gate, _d) = gate(SecurityConfig::default());
        let now = Instant::now();
        let from_anywhere = ip("192.0.2.99");
        let values = challenge(gate.check(now, from_anywhere, &invite(crate::directory::DEMO_NUMBER, &[])));
        assert!(
            values[0].contains("algorithm=SHA-256") && values[1].contains("algorithm=MD5"),
            "{values:?}"
        );
        for (nc, value) in (1..).zip(&values) {
            let c = crate::security::parse_challenge(value).unwrap();
            let answer = c.answer("INVITE", "sip:+15557654321@edge", "carrier-c", "s3cret", "cn", nc);
            let call = invite("+15551234567", &[(HeaderName::Authorization, &answer)]);
            assert_eq!(
                gate.check(now, from_anywhere, &call),
                forbidden(),
                "authenticated, but another trunk's number"
            );
            let c2 = crate::security::parse_challenge(
                &challenge(gate.check(now, from_anywhere, &invite("+15559990000", &[])))[0],
            )
            .unwrap();
            let good = c2.answer("INVITE", "sip:+15559990000@edge", "carrier-c", "s3cret", "cn", 1);
            let call = invite("+15559990000", &[(HeaderName::Authorization, &good)]);
            assert_eq!(gate.check(now, from_anywhere, &call), Verdict::Admit);
            let replayed = gate.check(now, from_anywhere, &call);
            assert!(challenge(replayed)[0].contains("stale=true"), "a replayed nonce count");
        }
        let c = crate::security::parse_challenge(&values[0]).unwrap();
        let later = now + gate.config.nonce_ttl() + std::time::Duration::from_secs(1);
        let expired = c.answer("INVITE", "sip:x@edge", "carrier-c", "s3cret", "cn", 7);
        let stale = gate.check(
            later,
            from_anywhere,
            &invite("+15559990000", &[(HeaderName::Authorization, &expired)]),
        );
        assert!(challenge(stale)[0].contains("stale=true"), "an expired nonce");
    }

    #[test]
    fn repeated_wrong_passwords_ban_the_source() {
        let (gate, _d) = gate(SecurityConfig::default());
        let now = Instant::now();
        let guesser = ip("192.0.2.77");
        for _ in 0..gate.config.ban_threshold {
            let c =
                crate::security::parse_challenge(&challenge(gate.check(now, guesser, &invite("+15559990000", &[])))[0])
                    .unwrap();
            let wrong = c.answer("INVITE", "sip:x@edge", "carrier-c", "guess", "cn", 1);
            let verdict = gate.check(
                now,
                guesser,
                &invite("+15559990000", &[(HeaderName::Authorization, &wrong)]),
            );
            assert_eq!(verdict, forbidden());
        }
        assert_eq!(
            gate.check(now, guesser, &invite("+15559990000", &[])),
            Verdict::Drop,
            "banned"
        );
    }

    /// Certificate 1 is pinned, 2 is presented by nobody's carrier.
    fn certificate(n: u8) -> Option<CertFingerprint> {
        Some(CertFingerprint::of_der(&[n]))
    }

    fn over_tls(origin: Origin, certificate: Option<CertFingerprint>) -> Origin {
        Origin { certificate, ..origin }
    }

    fn number_on(trunk: &str, e164: &str) -> Object {
        Object::PhoneNumber(crate::directory::model::PhoneNumber {
            id: format!("pn_{e164}"),
            org_id: "org_demo".into(),
            phone_number: e164.into(),
            trunk_id: trunk.into(),
            inbound_agent_version_id: None,
            outbound_agent_version_id: None,
            outbound_shareable: false,
            created_at: "t".into(),
            updated_at: "t".into(),
        })
    }

    #[test]
    fn a_trunk_that_pins_a_certificate_and_lists_an_address_needs_both() {
        let (gate, _d) = gate_with(
            SecurityConfig::default(),
            vec![pinned("trk_tls", &["192.0.2.30"], &[certificate(1).unwrap()], None)],
        );
        let now = Instant::now();
        let carrier = ip("192.0.2.30");
        let call = invite("+15550000000", &[]);
        assert_eq!(
            gate.check(now, over_tls(carrier, certificate(1)), &call),
            Verdict::Admit
        );
        for (case, origin) in [
            ("another certificate", over_tls(carrier, certificate(2))),
            ("no certificate", carrier),
            (
                "the certificate from another address",
                over_tls(ip(STRANGER), certificate(1)),
            ),
        ] {
            assert_eq!(gate.check(now, origin, &call), forbidden(), "{case}");
        }
        let options = RequestBuilder::new(Method::Options, b"sip:edge")
            .header(HeaderName::Via, "SIP/2.0/TLS 192.0.2.30;branch=z9hG4bKo")
            .header(HeaderName::CallId, "o1")
            .header(HeaderName::CSeq, "1 OPTIONS")
            .build();
        assert_eq!(gate.check(now, carrier, &options), forbidden(), "not only new calls");
        assert_eq!(
            gate.check(now, over_tls(carrier, certificate(1)), &options),
            Verdict::Admit
        );
    }

    #[test]
    fn a_trunk_that_lists_no_address_is_reached_by_its_certificate_from_anywhere() {
        let (gate, _d) = gate_with(
            SecurityConfig::default(),
            vec![
                pinned("trk_tls", &[], &[certificate(1).unwrap()], None),
                number_on("trk_tls", "+15550002222"),
            ],
        );
        let now = Instant::now();
        let call = invite("+15550002222", &[]);
        let anywhere = ip("192.0.2.99");
        assert_eq!(
            gate.check(now, over_tls(anywhere, certificate(1)), &call),
            Verdict::Admit
        );
        assert_eq!(gate.check(now, over_tls(anywhere, certificate(2)), &call), forbidden());
        assert_eq!(gate.check(now, anywhere, &call), forbidden());
        assert_eq!(
            gate.check(
                now,
                over_tls(ip(CARRIER_A), certificate(1)),
                &invite(crate::directory::DEMO_NUMBER, &[])
            ),
            Verdict::Admit,
            "carrier A's own trunk pins nothing: its calls pass with any certificate"
        );
        assert_eq!(
            gate.check(now, over_tls(ip(CARRIER_A), certificate(2)), &call),
            forbidden(),
            "carrier A, without trk_tls's certificate, for trk_tls's number"
        );
    }

    #[test]
    fn a_pinned_trunk_that_also_asks_for_digest_needs_the_certificate_and_the_password() {
        let (gate, _d) = gate_with(
            SecurityConfig::default(),
            vec![pinned(
                "trk_tls",
                &[],
                &[certificate(1).unwrap()],
                Some(("carrier-d", "d-secret")),
            )],
        );
        let now = Instant::now();
        let anywhere = ip("192.0.2.99");
        let answered = |origin: Origin, password: &str| {
            let values = challenge(gate.check(now, origin, &invite("+15550000000", &[])));
            let c = crate::security::parse_challenge(&values[0]).unwrap();
            let answer = c.answer("INVITE", "sip:+15550000000@edge", "carrier-d", password, "cn", 1);
            gate.check(
                now,
                origin,
                &invite("+15550000000", &[(HeaderName::Authorization, &answer)]),
            )
        };
        assert_eq!(answered(over_tls(anywhere, certificate(1)), "d-secret"), Verdict::Admit);
        assert_eq!(answered(over_tls(anywhere, certificate(1)), "guess"), forbidden());
        assert_eq!(
            answered(anywhere, "d-secret"),
            forbidden(),
            "the password without the certificate"
        );
    }

    #[test]
    fn a_digest_trunk_that_lists_an_address_is_not_reached_by_its_password_from_elsewhere() {
        let (gate, _d) = gate_with(
            SecurityConfig::default(),
            vec![
                trunk("trk_c", &["192.0.2.40"], Some(("carrier-c", "s3cret"))),
                trunk("trk_shared", &["192.0.2.40"], None),
                number_on("trk_c", "+15550003333"),
            ],
        );
        let now = Instant::now();
        let stranger = ip(STRANGER);
        let values = challenge(gate.check(now, stranger, &invite("+15550000000", &[])));
        let c = crate::security::parse_challenge(&values[0]).unwrap();
        let answer = c.answer("INVITE", "sip:+15550000000@edge", "carrier-c", "s3cret", "cn", 1);
        let call = invite("+15550000000", &[(HeaderName::Authorization, &answer)]);
        assert_eq!(gate.check(now, stranger, &call), forbidden());
        assert_eq!(
            gate.check(now, ip("192.0.2.40"), &invite("+15550000000", &[])),
            Verdict::Admit,
            "as trk_shared, which asks for no digest"
        );
        assert_eq!(
            gate.check(now, ip("192.0.2.40"), &invite("+15550003333", &[])),
            forbidden(),
            "trk_c's number, by the shared address alone"
        );
    }
}
