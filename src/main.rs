//! The `switchboard` command: `serve` runs the SIP edge and its API; `check-config`
//! validates a configuration without starting anything; `workflow test` dry-runs a routing
//! workflow module on an input object; `org create` / `org set-livekit-host` are the
//! platform side of orgs, on the configured store.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard::config::{Config, LogFormat};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A SIP edge that routes carrier calls to LiveKit agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the SIP listeners and the management API.
    Serve {
        /// A TOML file overlaid on the embedded defaults (config/switchboard.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Load and validate a configuration, print the effective values, and exit.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Routing workflows.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Orgs, on the configured store (instances sharing a PostgreSQL store see the change at
    /// once; a server on a SQLite file loads it at its next start).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Internal: compile one workflow module (wasm on stdin) under the limits in SETTINGS
    /// and write its artifact on stdout. The server and `workflow test` run this as a child.
    #[command(name = "__compile-workflow", hide = true)]
    CompileWorkflow { settings: String },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Make an org and its first API key (every scope); prints the org id and the key,
    /// which is shown this once (only its hash is stored).
    Create {
        name: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Send the org's agent legs to its own LiveKit SIP endpoint,
    /// host[:port][;transport=udp|tcp|tls]; `--clear` goes back to [routing] livekit_host.
    SetLivekitHost {
        org: String,
        #[arg(required_unless_present = "clear")]
        host: Option<String>,
        #[arg(long, conflicts_with = "host")]
        clear: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum WorkflowCommand {
    /// Run a module once on an input object (the documented workflow input, JSON) and print
    /// its output object, the decision switchboard would take with the configured store's
    /// directory (the org named by `organization_id`, its fallback), fuel used and time.
    Test {
        /// The module: a .wasm binary or .wat text.
        #[arg(long)]
        module: PathBuf,
        /// The input object, e.g. '{"caller_number":"+14155550100","called_number":"+15551234567"}'.
        #[arg(long)]
        input: String,
        /// IANA time zone for the time.* keys (default: the org's routing config, else UTC).
        #[arg(long)]
        tz: Option<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CompileWorkflow { settings } => std::process::exit(switchboard::workflow::serve_child(&settings)),
        Command::Serve { config } => {
            let config = Config::load(config.as_deref())?;
            init_tracing(&config);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("switchboard")
                .build()
                .context("starting the tokio runtime")?;
            runtime.block_on(switchboard::server::serve(config))?;
            Ok(())
        }
        Command::CheckConfig { config } => {
            let config = Config::load(config.as_deref())?;
            println!("configuration is valid\n{config:#?}");
            Ok(())
        }
        Command::Workflow(WorkflowCommand::Test {
            module,
            input,
            tz,
            config,
        }) => workflow_test(&module, &input, tz, config.as_deref()),
        Command::Org(command) => org(command),
    }
}

fn org(command: OrgCommand) -> anyhow::Result<()> {
    use switchboard::api::orgs;
    let open = |config: Option<&Path>| -> anyhow::Result<switchboard::directory::Directory> {
        let config = Config::load(config)?;
        // The store `serve` uses: PostgreSQL when `[store] url` names one, else the SQLite file.
        let store: std::sync::Arc<dyn switchboard::store::Store> = match &config.store.url {
            Some(url) => {
                let instance = config.store.instance_name(config.sip.udp_listen);
                let store = switchboard::store::PgStore::connect(url, &instance).context("connecting to the store")?;
                std::sync::Arc::new(store)
            }
            None => {
                let path = &config.store.path;
                let store = switchboard::store::SqliteStore::open(path)
                    .with_context(|| format!("opening the store {}", path.display()))?;
                std::sync::Arc::new(store)
            }
        };
        Ok(switchboard::directory::Directory::load(store)?)
    };
    match command {
        OrgCommand::Create { name, config } => {
            let directory = open(config.as_deref())?;
            let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
            let made = orgs::create(&directory, &name, &now)?;
            println!("org_id: {}", made.org_id);
            println!("api_key_id: {}", made.key_id);
            println!("api_key: {}", made.key);
            eprintln!("The key is shown this once; only its hash is stored.");
        }
        OrgCommand::SetLivekitHost {
            org,
            host,
            clear: _,
            config,
        } => {
            let directory = open(config.as_deref())?;
            let updated = orgs::set_livekit_host(&directory, &org, host.as_deref())?;
            match &updated.livekit_sip_host {
                Some(host) => println!("{}: agent legs go to {host}", updated.id),
                None => println!("{}: agent legs go to [routing] livekit_host", updated.id),
            }
        }
    }
    Ok(())
}

fn workflow_test(module: &Path, input: &str, tz: Option<String>, config: Option<&Path>) -> anyhow::Result<()> {
    use switchboard::routing::dry_run;
    let config = Config::load(config)?;
    let source = std::fs::read(module).with_context(|| format!("reading {}", module.display()))?;
    let input: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(input).context("--input must be a JSON object")?;
    let engine = switchboard::workflow::Engine::new(&config.workflow)?;
    let workflow = engine
        .compile(&source)
        .map_err(|err| anyhow::anyhow!("{}: {err}", module.display()))?;
    // The directory the server would route with, when its store exists.
    let snapshot = match config.store.path.exists() {
        true => {
            let store = std::sync::Arc::new(switchboard::store::SqliteStore::open(&config.store.path)?);
            switchboard::directory::Directory::load(store)?.snapshot()
        }
        false => std::sync::Arc::new(switchboard::directory::Snapshot::empty()),
    };
    let org = input
        .get("organization_id")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let mut routing =
        snapshot
            .routing_configs
            .get(org)
            .cloned()
            .unwrap_or_else(|| switchboard::directory::model::RoutingConfig {
                org_id: org.to_owned(),
                enabled: true,
                workflow_definition: None,
                fallback_agent_id: None,
                fallback_agent_version: None,
                tz: None,
                updated_at: String::new(),
            });
    if tz.is_some() {
        routing.tz = tz;
    }
    let context =
        dry_run::context(&input, routing.tz.as_deref(), std::time::SystemTime::now()).map_err(anyhow::Error::msg)?;
    let run = engine.run(&workflow, context.clone());
    let report = dry_run::answer(&snapshot, &routing, &config.routing.default_country, &context, &run);
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.filter));
    // Colour codes only for a person at a terminal: a file or a log collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}
