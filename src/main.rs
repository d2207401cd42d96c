//! The `switchboard` command: `serve` runs the SIP edge and its API; `check-config`
//! validates a configuration without starting anything.

use std::path::PathBuf;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
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
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}
