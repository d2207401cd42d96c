//! The shell that wires switchboard together: configuration, logging, the transports and
//! the SIP handler, and an orderly stop on SIGTERM/ctrl-c.

mod hosts;
mod reply;
mod route_pool;
mod sip_handler;
mod sip_metrics;
mod timer_thread;

use std::sync::Arc;

pub use reply::Stateless;
pub use sip_handler::SipHandler;

use crate::config::Config;
use crate::journal;
use crate::transport;

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot bind a listener: {0}")]
    Bind(#[source] std::io::Error),
    #[error(transparent)]
    Tls(#[from] transport::TlsError),
    #[error(transparent)]
    Routes(#[from] crate::routing::TableError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    #[error(transparent)]
    DataDir(#[from] crate::store::DataLockError),
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
    #[error("cannot write the demo API key to {0}: {1}")]
    DemoKey(std::path::PathBuf, #[source] std::io::Error),
    #[error("the workflow sandbox: {0}")]
    Workflow(#[from] crate::workflow::WorkflowError),
}

/// Where this instance keeps what it keeps: all of it in the shared PostgreSQL database
/// when `[store] url` names one, else the SQLite files in the data directory.
struct Stores {
    directory: Arc<dyn crate::store::Store>,
    calls: Arc<dyn crate::store::CallStore>,
    artifacts: Arc<dyn crate::store::ArtifactStore>,
    /// The shared store, whose change feed this instance follows.
    shared: Option<Arc<crate::store::PgStore>>,
}

fn open_stores(config: &Config) -> Result<Stores, ServeError> {
    let instance = config.store.instance_name(
        config
            .sip
            .udp_listen
            .or(config.sip.tcp_listen)
            .or(config.sip.tls_listen),
    );
    let path = &config.store.path;
    Ok(match &config.store.url {
        Some(url) => {
            let store = Arc::new(crate::store::PgStore::connect(url, &instance)?);
            tracing::info!(%instance, "the store is shared (PostgreSQL)");
            Stores {
                directory: store.clone(),
                calls: store.clone(),
                artifacts: store.clone(),
                shared: Some(store),
            }
        }
        None => Stores {
            directory: Arc::new(crate::store::SqliteStore::open(path)?),
            calls: Arc::new(crate::store::CallLog::open(path, &instance)?),
            artifacts: Arc::new(crate::store::Artifacts::open(path)?),
            shared: None,
        },
    })
}

/// The directory loaded from the store (seeded on first start), and the router over it.
#[allow(clippy::type_complexity)]
fn open_routing(
    config: &Config,
    stores: &Stores,
    tls_names: &Arc<transport::TlsNames>,
    resolver: &crate::resolve::Resolver,
) -> Result<
    (
        crate::routing::DirectoryRouter,
        Arc<crate::directory::Directory>,
        Arc<crate::routing::Workflows>,
    ),
    ServeError,
> {
    let directory = Arc::new(
        crate::directory::Directory::load(stores.directory.clone())?
            .with_number_limit(config.directory.max_numbers_per_org),
    );
    if config.directory.seed_demo {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        if let Some(key) = crate::directory::ensure_demo(&directory, &now)? {
            // Into a file only this user may read, never to stdout or the log (where log
            // collectors keep it): only its hash is in the store.
            let path = data_dir(config).join("demo-api-key");
            write_secret(&path, &key).map_err(|err| ServeError::DemoKey(path.clone(), err))?;
            println!(
                "Seeded a demo directory. The demo org's API key is in {} (mode 0600).",
                path.display()
            );
            tracing::info!(
                number = crate::directory::DEMO_NUMBER,
                agent = crate::directory::DEMO_AGENT_ID,
                "seeded a demo directory: calls to the number reach the agent"
            );
        }
    }
    let snapshot = directory.snapshot();
    let fallback = match &config.routing.static_routes {
        Some(_) => Some(crate::routing::StaticTable::load(&config.routing)?.with_lookup(Arc::new(resolver.clone()))),
        None => None,
    };
    tracing::info!(store = %config.store.path.display(), numbers = snapshot.number_count(), static_routes = fallback.as_ref().map_or(0, |t| t.len()), livekit = %config.routing.livekit_host, "routing loaded");
    let workflows = Arc::new(open_workflows(config, &snapshot, stores.artifacts.as_ref())?);
    if let Some(store) = &stores.shared {
        follow_peers(
            store,
            directory.clone(),
            workflows.clone(),
            config.store.changes.clone(),
        )?;
    }
    let router = crate::routing::DirectoryRouter::new(directory.clone(), config.routing.livekit_host.clone(), fallback)
        .with_workflows(workflows.clone())
        .with_tls_names(tls_names.clone())
        .with_lookup(Arc::new(resolver.clone()));
    Ok((router, directory, workflows))
}

/// The store secret that keys digest nonces.
const NONCE_SECRET: &str = "digest_nonce";

/// The wall clock in Unix milliseconds, read once at start to anchor nonce stamps.
fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The folder of the SQLite store, which also keeps call records and the demo key.
fn data_dir(config: &Config) -> &std::path::Path {
    match config.store.path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    }
}

/// How often an instance prunes the shared change feed (any instance may; they agree on
/// what goes, and the writers' lock keeps them apart).
const PRUNE_CHANGES_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// On a shared store: a thread that applies the other instances' commits to the snapshot
/// as the change feed announces them, loads the routing workflows they upload, and prunes
/// the feed now and then.
fn follow_peers(
    store: &Arc<crate::store::PgStore>,
    directory: Arc<crate::directory::Directory>,
    workflows: Arc<crate::routing::Workflows>,
    keep: crate::store::ChangeRetention,
) -> Result<(), ServeError> {
    use std::sync::mpsc::RecvTimeoutError;
    let woken = store.follow();
    let artifacts = store.clone();
    std::thread::Builder::new()
        .name("store-feed".into())
        .spawn(move || {
            let mut pruned = std::time::Instant::now();
            loop {
                match woken.recv_timeout(PRUNE_CHANGES_EVERY.saturating_sub(pruned.elapsed())) {
                    Ok(()) => {
                        // One catch-up answers every wake-up that came meanwhile.
                        while woken.try_recv().is_ok() {}
                        match directory.catch_up() {
                            Ok(changes) => load_peer_workflows(&changes, &workflows, artifacts.as_ref()),
                            Err(err) => {
                                tracing::warn!(%err, "cannot apply the other instances' changes; retrying on the next")
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                if pruned.elapsed() >= PRUNE_CHANGES_EVERY {
                    pruned = std::time::Instant::now();
                    match directory.prune_changes(&keep) {
                        Ok(0) => {}
                        Ok(rows) => tracing::debug!(rows, "pruned the change feed"),
                        Err(err) => tracing::warn!(%err, "cannot prune the change feed"),
                    }
                }
            }
        })
        .map_err(|err| crate::store::StoreError::Postgres(format!("spawning the change feed thread: {err}")))?;
    Ok(())
}

fn load_peer_workflows(
    changes: &[crate::store::Write],
    workflows: &crate::routing::Workflows,
    artifacts: &dyn crate::store::ArtifactStore,
) {
    for change in changes {
        let crate::store::Write::Put(row) = change else {
            continue;
        };
        if row.kind != crate::store::Kind::RoutingConfig {
            continue;
        }
        let Ok(routing) = serde_json::from_str::<crate::directory::model::RoutingConfig>(&row.body) else {
            continue;
        };
        if let Some(definition) = &routing.workflow_definition {
            match workflows.load(definition, artifacts, None) {
                Ok(_) => tracing::info!(org = %routing.org_id, "loaded a routing workflow another instance uploaded"),
                Err(err) => {
                    tracing::warn!(org = %routing.org_id, %err, "a peer's routing workflow does not load; its calls take the fallback")
                }
            }
        }
    }
}

/// Write `secret` to a new file readable by this user only (replacing an older one).
fn write_secret(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{secret}")
}

/// The workflow sandbox, with every org's module loaded (from its stored artifact, or
/// compiled), so that no call waits for a compile.
fn open_workflows(
    config: &Config,
    snapshot: &crate::directory::Snapshot,
    artifacts: &dyn crate::store::ArtifactStore,
) -> Result<crate::routing::Workflows, ServeError> {
    let engine = crate::workflow::Engine::new(&config.workflow)?;
    let pinned = config
        .routing
        .pinned_time
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(std::time::SystemTime::from);
    let workflows = crate::routing::Workflows::new(engine, pinned);
    for routing in snapshot.routing_configs.values() {
        if let Some(definition) = &routing.workflow_definition {
            if let Err(err) = workflows.load(definition, artifacts, None) {
                tracing::warn!(org = %routing.org_id, %err, "an org's routing workflow does not load; its calls take the fallback");
            }
        }
    }
    Ok(workflows)
}

/// A running server: its bound addresses, and what stops it when dropped.
pub struct Running {
    pub listeners: transport::Listeners,
    pub handler: Arc<SipHandler>,
    pub health: Arc<crate::api::Health>,
    /// The HTTP listener's address and task.
    pub http: Option<(std::net::SocketAddr, tokio::task::JoinHandle<()>)>,
    _timers: timer_thread::TimerThread,
    /// Keeps the resolver's host list in step with the directory.
    _hosts: hosts::Watch,
    /// The dialog journal's writer: dropped after the timers, it commits what is left.
    _journal: Option<journal::Writer>,
    /// The call-record writer; it ends once the handler (and its recorder) is gone.
    _records: Option<std::thread::JoinHandle<()>>,
    /// This process's hold on the data directory; released last.
    _data_dir: crate::store::DataLock,
}

/// The call core's shards: as configured, or one per CPU this process may run on.
fn shard_count(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Bind and start everything the configuration names.
pub async fn start(config: &Config) -> Result<Running, ServeError> {
    let data_dir = crate::store::DataLock::acquire(data_dir(config))?;
    let tls = match config.sip.tls_listen {
        Some(_) => Some(transport::load_or_generate_tls(&config.tls)?),
        None => None,
    };
    if config.api.metrics {
        // Before the SIP handler registers its metric handles.
        crate::metrics::install();
    }
    let tls_names = Arc::new(transport::TlsNames::default());
    let resolver = crate::resolve::Resolver::new(&config.resolver, tokio::runtime::Handle::current());
    let stores = open_stores(config)?;
    let (router, directory, workflows) = open_routing(config, &stores, &tls_names, &resolver)?;
    let router = Arc::new(router);
    let nonce_secret = directory.secret(NONCE_SECRET)?;
    // Before anything binds: read the calls a crash left up, then keep this run's.
    let recovery = match config.journal.enabled {
        true => Some(journal::Recovery::open(&config.journal, self::data_dir(config))?),
        false => None,
    };
    let cores: Vec<_> = (0..shard_count(config.sip.shards))
        .map(|_| {
            let core = crate::b2bua::B2bua::new(config.b2bua.clone(), rand::random());
            match recovery.is_some() {
                true => core.with_journal(),
                false => core,
            }
        })
        .collect();
    let call_log = stores.calls.clone();
    let records = config.call_records.enabled.then(|| {
        crate::call_records::Recorder::start(
            &config.call_records,
            call_log.clone(),
            directory.clone(),
            config.log.mask_numbers,
        )
    });
    let (recorder, records_thread) = match records {
        Some((recorder, thread)) => (Some(recorder), Some(thread)),
        None => (None, None),
    };
    let tls_client = transport::TlsClient::new(config.outbound.carrier_tls_ca.as_deref(), tls_names.clone())?;
    let outbound = Arc::new(
        crate::routing::outbound::DirectoryOutboundRouter::new(directory.clone(), config.outbound.clone())
            .with_tls_names(tls_names)
            .with_lookup(Arc::new(resolver.clone())),
    );
    let hosts = hosts::watch(
        resolver.clone(),
        directory.clone(),
        config.routing.livekit_host.clone(),
        outbound.clone(),
    );
    let livekit = crate::routing::outbound::SourceAcl::parse(&config.outbound.livekit_sources).unwrap_or_default();
    let (journal, recovery) = recovery.unzip();
    let mut handler = SipHandler::sharded(config.sip.server_header.clone(), cores, router, recorder)
        .with_default_country(&config.routing.default_country);
    if let Some(journal) = journal {
        handler = handler.with_journal(journal);
    }
    let handler = Arc::new(
        handler.with_outbound(livekit, outbound).with_gate(
            crate::gate::Gate::new(config.security.clone(), directory.clone())
                .with_shared_nonces(nonce_secret, crate::clock::now(), unix_ms())
                .with_outbound_sources(&config.outbound.livekit_sources)
                .with_default_country(&config.routing.default_country),
        ),
    );
    let listeners = transport::start(&config.sip, tls, handler.clone())
        .await
        .map_err(ServeError::Bind)?;
    listeners.dispatcher.set_tls_client(tls_client);
    if config.routing.workers > 0 {
        handler.start_routing(
            route_pool::WorkerConfig::of(&config.routing),
            listeners.dispatcher.clone(),
        );
    }
    tracing::info!(udp = ?listeners.udp, tcp = ?listeners.tcp, tls = ?listeners.tls, shards = handler.shards(), "SIP listeners up");
    let journal = recovery
        .map(|recovery| end_left_calls(recovery, &handler, &listeners.dispatcher))
        .transpose()?;
    let resolution = std::time::Duration::from_millis(config.sip.timer_resolution_ms);
    let timers = timer_thread::spawn(handler.clone(), listeners.dispatcher.clone(), resolution);
    let health = Arc::new(crate::api::Health::default());
    let http = match config.api.listen {
        Some(listen) => {
            let (local, task) = crate::api::serve(
                listen,
                crate::api::AppState {
                    directory: directory.clone(),
                    config: config.directory.clone(),
                    health: health.clone(),
                    provider: config.provider.build(),
                    calls: call_log.clone(),
                    workflows: workflows.clone(),
                    artifacts: stores.artifacts.clone(),
                    metrics: config.api.metrics,
                    default_country: config.routing.default_country.clone(),
                    managed_outbound: !config.outbound.managed_termination_host.trim().is_empty(),
                },
            )
            .await
            .map_err(ServeError::Bind)?;
            tracing::info!(%local, "HTTP listener up (/metrics, /healthz, /readyz)");
            Some((local, task))
        }
        None => None,
    };
    health.set_ready();
    Ok(Running {
        listeners,
        handler,
        health,
        http,
        _timers: timers,
        _hosts: hosts,
        _journal: journal,
        _records: records_thread,
        _data_dir: data_dir,
    })
}

/// As soon as the sockets are bound (the first transmissions of each BYE go out now, the
/// timer thread resends them), end the calls the last run left up; then the journal
/// forgets them and its writer starts.
fn end_left_calls(
    recovery: journal::Recovery,
    handler: &SipHandler,
    dispatcher: &transport::Dispatcher,
) -> Result<journal::Writer, ServeError> {
    let mut out = Vec::new();
    handler.end_left_calls(&recovery.left, &mut out);
    for o in out {
        dispatcher.send(o);
    }
    Ok(recovery.finish()?)
}

/// Run until SIGTERM or ctrl-c.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let running = start(&config).await?;
    shutdown_signal().await;
    running.handler.start_draining();
    running.health.set_draining();
    tracing::info!(calls = running.handler.active_calls(), "draining");
    let deadline = crate::clock::now() + std::time::Duration::from_secs(config.sip.drain_secs);
    while running.handler.active_calls() > 0 && crate::clock::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tracing::info!(calls = running.handler.active_calls(), "stopping");
    drop(running);
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
