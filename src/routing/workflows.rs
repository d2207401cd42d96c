//! Workflow routing (DESIGN.md's decision tree, the org's enabled routing config): run the
//! org's module for the call in the sandbox, then turn what it said into a decision. A
//! selection names the agent (and version: latest published when unset), with the context
//! and metadata it set; a rejection is the caller's final response; anything else (no
//! decision, a trap, out of fuel, past the deadline, out of memory, an invalid output, an
//! agent that does not exist or is not published in the org) takes the org's fallback
//! agent, or a refusal with a `Reason` when it has none. Never a hang: the sandbox bounds
//! every run.
//!
//! Also here: compiled modules by the hash of their source, so that each upload compiles
//! once and a new upload takes effect for the next call (hot swap; calls in progress keep
//! the agent they were given).

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use dashmap::DashMap;
use jiff::tz::TimeZone;

use super::{Miss, Refusal, RouteKind, RouteRequest};
use crate::directory::model::{AgentVersion, PhoneNumber, RoutingConfig};
use crate::directory::Snapshot;
use crate::sip::Message;
use crate::workflow::{CompileRate, Context, Engine, Outcome, Run, Workflow, WorkflowCache, WorkflowError};

/// Header names the agent leg gets for what the workflow set.
pub const INITIAL_CONTEXT_HEADER: &str = "X-Switchboard-Initial-Context";
pub const CUSTOM_METADATA_HEADER: &str = "X-Switchboard-Custom-Metadata";

/// A workflow's `caller_number` when the caller's number is withheld or is no phone number.
pub const ANONYMOUS_CALLER: &str = "anonymous";

/// The agent a workflow (or its fallback) chose.
#[derive(Debug)]
pub struct Chosen<'s> {
    pub version: &'s AgentVersion,
    pub kind: RouteKind,
    pub headers: Vec<(String, Bytes)>,
}

/// Runs org workflows; cheap to share.
pub struct Workflows {
    engine: Engine,
    compiled: WorkflowCache,
    /// Each org's module as last seen, so a call pays a comparison of the definition, not
    /// its decoding and hashing (which cost more than the run itself).
    by_org: DashMap<String, OrgModule>,
    /// Time zones by name, resolved once.
    zones: DashMap<String, TimeZone>,
    /// The wall clock workflows see; pinned for tests and dry runs.
    pinned: Option<SystemTime>,
    /// Compiles each org may start.
    rate: CompileRate,
    /// The engine's fingerprint, half of every stored artifact's key.
    fingerprint: [u8; 32],
}

/// An org's routing config definition and its compiled module.
struct OrgModule {
    definition: String,
    workflow: Workflow,
}

impl Workflows {
    pub fn new(engine: Engine, pinned: Option<SystemTime>) -> Workflows {
        Workflows {
            compiled: WorkflowCache::new(engine.clone()),
            rate: CompileRate::new(engine.config().compiles_per_minute),
            fingerprint: engine.fingerprint(),
            engine,
            by_org: DashMap::new(),
            zones: DashMap::new(),
            pinned,
        }
    }

    /// The org's compiled module for `definition`: the one the org ran last when the
    /// definition is unchanged, else looked up by its hash among the modules loaded (at
    /// upload or at start). A new upload changes the definition, so the next call takes the
    /// new module (hot swap). A call never compiles: a module not loaded is a fault.
    fn org_workflow(&self, org: &str, definition: &str) -> Option<Workflow> {
        if let Some(known) = self.by_org.get(org).filter(|m| m.definition == definition) {
            return Some(known.workflow.clone());
        }
        let workflow = self.loaded(definition)?;
        let module = OrgModule {
            definition: definition.to_owned(),
            workflow: workflow.clone(),
        };
        self.by_org.insert(org.to_owned(), module);
        Some(workflow)
    }

    /// The zone an org's `tz` names; UTC when unset or unknown (the API refuses unknown
    /// names at upload).
    fn zone(&self, tz: Option<&str>) -> TimeZone {
        let Some(name) = tz else { return TimeZone::UTC };
        if let Some(zone) = self.zones.get(name) {
            return zone.clone();
        }
        let zone = TimeZone::get(name).unwrap_or(TimeZone::UTC);
        self.zones.insert(name.to_owned(), zone.clone());
        zone
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The compiled module of a routing config, if it was loaded.
    pub fn loaded(&self, definition: &str) -> Option<Workflow> {
        self.compiled.get(&crate::workflow::sha256(&module_source(definition)))
    }

    /// A module to dry-run: the loaded one, else compiled (bounded, counted against `org`'s
    /// compile rate) and not kept, so that dry runs of ever-new modules cost no memory.
    pub fn for_dry_run(&self, org: &str, definition: &str) -> Result<Workflow, WorkflowError> {
        if let Some(found) = self.loaded(definition) {
            return Ok(found);
        }
        self.rate.admit(org)?;
        self.engine.compile(&module_source(definition))
    }

    /// A routing config's module ready to run: from memory, else from its stored artifact
    /// (loaded only if its hash checks), else compiled and its artifact stored. Errors
    /// name what is wrong with the module (at upload they go back to the client). A compile
    /// on behalf of `org` (an upload) counts against its compile rate; at start (`None`) it
    /// does not.
    pub fn load(
        &self,
        definition: &str,
        artifacts: &dyn crate::store::ArtifactStore,
        org: Option<&str>,
    ) -> Result<Workflow, WorkflowError> {
        let source = module_source(definition);
        let hash = crate::workflow::sha256(&source);
        if let Some(found) = self.compiled.get(&hash) {
            return Ok(found);
        }
        let key = crate::store::ArtifactKey {
            source: hash,
            engine: self.fingerprint,
        };
        match artifacts.get(&key) {
            Ok(Some((artifact, artifact_hash))) => {
                match self.engine.deserialize_checked(hash, &artifact, artifact_hash) {
                    Ok(workflow) => {
                        metrics::counter!("workflow_loads_total", "from" => "artifact").increment(1);
                        self.compiled.insert(workflow.clone());
                        return Ok(workflow);
                    }
                    Err(err) => tracing::warn!(%err, "stored workflow artifact refused; compiling again"),
                }
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(%err, "cannot read stored workflow artifacts; compiling"),
        }
        if let Some(org) = org {
            self.rate.admit(org)?;
        }
        let workflow = self.engine.compile(&source)?;
        metrics::counter!("workflow_loads_total", "from" => "compile").increment(1);
        match self.engine.serialize(&workflow) {
            Ok(artifact) => {
                let artifact_hash = crate::workflow::sha256(&artifact);
                if let Err(err) = artifacts.put(&key, &artifact, artifact_hash) {
                    tracing::warn!(%err, "could not store a compiled workflow");
                }
            }
            Err(err) => tracing::warn!(%err, "could not serialize a compiled workflow"),
        }
        self.compiled.insert(workflow.clone());
        Ok(workflow)
    }

    /// The wall clock a run sees: the pinned time, else the call's (routing reads no clock).
    pub fn wall_clock(&self, request: &RouteRequest<'_>) -> SystemTime {
        self.pinned.unwrap_or(request.now)
    }

    /// Route one call by its org's workflow, then the fallbacks (`decide`).
    pub fn route<'s>(
        &self,
        snapshot: &'s Snapshot,
        config: &RoutingConfig,
        number: &PhoneNumber,
        request: &RouteRequest<'_>,
    ) -> Result<Chosen<'s>, Refusal> {
        let Some(definition) = config.workflow_definition.as_deref() else {
            return fallback(snapshot, config, Some(number), None);
        };
        let Some(workflow) = self.org_workflow(&config.org_id, definition) else {
            // Checked at upload, so this is a module that did not load at start (a limit
            // changed since): the log at start said why.
            tracing::warn!(org = %config.org_id, "routing workflow not loaded; using the fallback");
            metrics::counter!("workflow_runs_total", "outcome" => "invalid").increment(1);
            return fallback(snapshot, config, Some(number), Some(Miss::Failed));
        };
        let context = CallContext::new(
            request,
            number,
            self.zone(config.tz.as_deref()),
            self.wall_clock(request),
        );
        let run = self.engine.run(&workflow, context);
        metrics::counter!("workflow_runs_total", "outcome" => run.outcome.label()).increment(1);
        metrics::histogram!("workflow_run_duration_seconds").record(run.elapsed.as_secs_f64());
        decide(snapshot, config, Some(number), &run)
    }
}

/// What a run said, as a route (DESIGN.md's precedence): the agent it selected (a
/// published version of the org's); its rejection; else, when it decided nothing, failed or
/// selected an agent that cannot answer, the org's fallback agent, then the number's own
/// inbound agent, then a 480 saying which way the workflow came to nothing.
pub fn decide<'s>(
    snapshot: &'s Snapshot,
    config: &RoutingConfig,
    number: Option<&PhoneNumber>,
    run: &Run,
) -> Result<Chosen<'s>, Refusal> {
    let miss = match &run.outcome {
        Outcome::Selected { agent_id, version } => match published(snapshot, &config.org_id, agent_id, *version) {
            Some(found) => {
                return Ok(Chosen {
                    version: found,
                    kind: RouteKind::Workflow,
                    headers: headers_of(run),
                })
            }
            None => {
                tracing::debug!(org = %config.org_id, agent = %agent_id, ?version, "workflow chose an unknown or unpublished agent");
                Miss::UnknownAgent
            }
        },
        Outcome::Rejected { status } => return Err(Refusal::Rejected { status: *status }),
        Outcome::NoDecision => Miss::NoDecision,
        _ => Miss::Failed,
    };
    fallback(snapshot, config, number, Some(miss))
}

/// The org's fallback agent; else the number's own inbound agent (a static route); else a
/// refusal: the workflow's `miss`, or (no workflow at all) "no agent".
fn fallback<'s>(
    snapshot: &'s Snapshot,
    config: &RoutingConfig,
    number: Option<&PhoneNumber>,
    miss: Option<Miss>,
) -> Result<Chosen<'s>, Refusal> {
    let configured = config
        .fallback_agent_id
        .as_deref()
        .and_then(|agent| published(snapshot, &config.org_id, agent, config.fallback_agent_version));
    if let Some(version) = configured {
        return Ok(Chosen {
            version,
            kind: RouteKind::Fallback,
            headers: Vec::new(),
        });
    }
    let own = number
        .and_then(|n| n.inbound_agent_version_id.as_ref())
        .and_then(|id| snapshot.versions.get(id))
        .filter(|v| v.published);
    match (own, miss) {
        (Some(version), _) => Ok(Chosen {
            version,
            kind: RouteKind::Static,
            headers: Vec::new(),
        }),
        (None, Some(miss)) => Err(Refusal::NoFallback { miss }),
        (None, None) => Err(Refusal::NoAgent),
    }
}

/// Why a selection cannot answer, in words for the dry run's `outcome_detail`; `None` when
/// it can.
pub fn unusable_selection(snapshot: &Snapshot, org: &str, agent: &str, version: Option<u32>) -> Option<String> {
    if published(snapshot, org, agent, version).is_some() {
        return None;
    }
    if snapshot.agents.get(agent).is_none_or(|a| a.org_id != org) {
        return Some(format!(
            "the workflow selected agent {agent}, which is not an agent of this org"
        ));
    }
    let exists = |n: u32| {
        snapshot
            .versions
            .values()
            .any(|v| v.agent_id == agent && v.version == n)
    };
    Some(match version {
        Some(n) if exists(n) => format!("the workflow selected version {n} of agent {agent}, which is not published"),
        Some(n) => format!("the workflow selected version {n} of agent {agent}, which has no such version"),
        None => format!("the workflow selected agent {agent}, which has no published version"),
    })
}

/// A published version of an agent of `org`: the one asked for, else the latest.
pub fn published<'s>(snapshot: &'s Snapshot, org: &str, agent: &str, version: Option<u32>) -> Option<&'s AgentVersion> {
    if snapshot.agents.get(agent).is_none_or(|a| a.org_id != org) {
        return None;
    }
    snapshot
        .versions
        .values()
        .filter(|v| v.agent_id == agent && v.published && version.is_none_or(|n| v.version == n))
        .max_by_key(|v| v.version)
}

/// `initial_context` and `custom_metadata` as base64 `X-` headers (they may hold any UTF-8,
/// which a header value may not), then the headers the workflow added, as written.
fn headers_of(run: &Run) -> Vec<(String, Bytes)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut headers = Vec::new();
    if !run.initial_context.is_empty() {
        headers.push((
            INITIAL_CONTEXT_HEADER.to_owned(),
            Bytes::from(b64.encode(run.initial_context.as_bytes())),
        ));
    }
    if let Some(metadata) = &run.custom_metadata {
        let json = serde_json::to_string(metadata).unwrap_or_default();
        headers.push((CUSTOM_METADATA_HEADER.to_owned(), Bytes::from(b64.encode(json))));
    }
    for (name, value) in &run.headers {
        headers.push((name.clone(), Bytes::copy_from_slice(value.as_bytes())));
    }
    headers
}

/// A stored `workflow_definition`: base64 of a wasm binary, or WAT text.
pub fn module_source(definition: &str) -> Vec<u8> {
    match base64::engine::general_purpose::STANDARD.decode(definition.trim()) {
        Ok(bytes) if bytes.starts_with(b"\0asm") => bytes,
        _ => definition.as_bytes().to_vec(),
    }
}

/// What a workflow can ask about its call: DESIGN.md's context keys. Owned (a run may not
/// borrow from the call path); derived keys (times, the source address) are computed only
/// when a module asks for them.
pub struct CallContext {
    caller: String,
    called: String,
    caller_name: Option<String>,
    source_ip: std::net::IpAddr,
    call_id: String,
    trunk_id: String,
    org_id: String,
    number_id: String,
    now: SystemTime,
    zone: TimeZone,
    /// `now` in `zone`, on the first `time.*` key asked for.
    local: OnceLock<Option<jiff::Zoned>>,
    invite: Option<Message>,
}

/// What a workflow sees as `caller_number`: the caller's E.164 number (P-Asserted-Identity,
/// else From, as the B2BUA read it), or [`ANONYMOUS_CALLER`] when the caller withheld it
/// (`sip:anonymous@anonymous.invalid`, RFC 3323 §4.1.1.3), sent none, or sent something that is
/// not a phone number (`sip:alice@...`), so that a module compares against one documented value.
pub fn caller_number(caller: &str) -> &str {
    let digits = caller.strip_prefix('+').unwrap_or_default();
    let e164 = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    if e164 {
        caller
    } else {
        ANONYMOUS_CALLER
    }
}

impl CallContext {
    pub fn new(request: &RouteRequest<'_>, number: &PhoneNumber, zone: TimeZone, now: SystemTime) -> CallContext {
        CallContext {
            caller: caller_number(request.caller).to_owned(),
            called: request.called.to_owned(),
            caller_name: request.caller_name.map(str::to_owned),
            source_ip: request.source.ip(),
            call_id: String::from_utf8_lossy(request.call_id).into_owned(),
            trunk_id: number.trunk_id.clone(),
            org_id: number.org_id.clone(),
            number_id: number.id.clone(),
            now,
            zone,
            local: OnceLock::new(),
            invite: request.invite.cloned(),
        }
    }

    fn local(&self) -> Option<&jiff::Zoned> {
        self.local
            .get_or_init(|| Some(jiff::Timestamp::try_from(self.now).ok()?.to_zoned(self.zone.clone())))
            .as_ref()
    }
}

impl Context for CallContext {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        let text = |s: String| Some(Cow::Owned(s));
        match key {
            "caller_number" => Some(Cow::Borrowed(self.caller.as_str())),
            "called_number" => Some(Cow::Borrowed(self.called.as_str())),
            "trunk_id" => Some(Cow::Borrowed(self.trunk_id.as_str())),
            "organization_id" => Some(Cow::Borrowed(self.org_id.as_str())),
            "number_id" => Some(Cow::Borrowed(self.number_id.as_str())),
            "caller_name" => self.caller_name.as_deref().map(Cow::Borrowed),
            "source_ip" => text(self.source_ip.to_string()),
            "call_id" => Some(Cow::Borrowed(self.call_id.as_str())),
            "timestamp" => {
                let t = jiff::Timestamp::try_from(self.now).ok()?;
                text(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            }
            "time.unix_ms" => {
                let ms = self.now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_millis();
                text(ms.to_string())
            }
            // Monday = 0 ... Sunday = 6, as routing-workflows/README.md documents.
            "time.weekday" => text(self.local()?.weekday().to_monday_zero_offset().to_string()),
            "time.hour" => text(self.local()?.hour().to_string()),
            "time.minute" => text(self.local()?.minute().to_string()),
            _ => {
                let name = key.strip_prefix("header.")?;
                let value = self.invite.as_ref()?.header_by_name(name)?;
                Some(String::from_utf8_lossy(value))
            }
        }
    }
}
