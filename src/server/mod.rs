//! The shell that wires switchboard together: configuration, logging, the transports and
//! the SIP handler, and an orderly stop on SIGTERM/ctrl-c.

mod reply;
mod sip_handler;

use std::sync::Arc;

pub use sip_handler::SipHandler;

use crate::config::Config;
use crate::transport;

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot bind a SIP listener: {0}")]
    Bind(#[source] std::io::Error),
    #[error(transparent)]
    Tls(#[from] transport::TlsError),
}

/// A running server: its bound addresses, and what stops it when dropped.
pub struct Running {
    pub listeners: transport::Listeners,
    pub handler: Arc<SipHandler>,
}

/// Bind and start everything the configuration names.
pub async fn start(config: &Config) -> Result<Running, ServeError> {
    let tls = match config.sip.tls_listen {
        Some(_) => Some(transport::load_or_generate_tls(&config.tls)?),
        None => None,
    };
    let handler = Arc::new(SipHandler::new(config.sip.server_header.clone()));
    let listeners = transport::start(&config.sip, tls, handler.clone())
        .await
        .map_err(ServeError::Bind)?;
    tracing::info!(udp = ?listeners.udp, tcp = ?listeners.tcp, tls = ?listeners.tls, "SIP listeners up");
    Ok(Running { listeners, handler })
}

/// Run until SIGTERM or ctrl-c.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let running = start(&config).await?;
    shutdown_signal().await;
    running.handler.start_draining();
    tracing::info!("stopping");
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
