//! `[sip]` and `[tls]`: the listeners, message limits and the TLS certificate, each knob with
//! its default in `config/switchboard.toml` and its range checked here, next to its users.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// A knob outside its range: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{knob}: {why}")]
pub struct KnobError {
    pub knob: &'static str,
    pub why: &'static str,
}

/// SIP listeners and message limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// UDP listen address; empty string disables UDP.
    pub udp_listen: Option<SocketAddr>,
    /// How many SO_REUSEPORT UDP sockets (one receive thread each); 0 means one per core.
    pub udp_sockets: usize,
    /// How many call cores (each its own lock, holding its own calls); 0 means one per core.
    pub shards: usize,
    /// TCP listen address.
    pub tcp_listen: Option<SocketAddr>,
    /// TLS listen address.
    pub tls_listen: Option<SocketAddr>,
    /// Largest SIP message accepted, datagram or stream (bytes).
    pub max_message_size: usize,
    /// Open TCP/TLS connections in total.
    pub max_connections: usize,
    /// Open TCP/TLS connections from one source address.
    pub max_connections_per_source: usize,
    /// A stream connection with no complete message for this long is closed (seconds).
    pub idle_timeout_secs: u64,
    /// A stream message must arrive whole within this long of its first byte (seconds).
    pub message_timeout_secs: u64,
    /// Time allowed for a TLS handshake (seconds).
    pub handshake_timeout_secs: u64,
    /// On SIGTERM, new calls get 503 and live calls get this long to end (seconds).
    pub drain_secs: u64,
    /// Value of Server/User-Agent headers we add; empty means none (no version leaks to scanners).
    pub server_header: String,
    /// Timers fire up to this late (milliseconds, 1 to 10): the timer thread sleeps at
    /// least this long, so that at high call rates it wakes a few hundred times a second,
    /// not once per deadline.
    pub timer_resolution_ms: u64,
}

/// TLS certificate for the TLS listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; when unset, a self-signed development certificate is generated
    /// under `dev_cert_dir` at first start.
    pub cert_path: Option<PathBuf>,
    /// PEM private key matching `cert_path`.
    pub key_path: Option<PathBuf>,
    /// Where the generated development certificate is kept.
    pub dev_cert_dir: PathBuf,
}

impl SipConfig {
    /// The knobs' ranges.
    pub fn check(&self) -> Result<(), KnobError> {
        if self.max_message_size < 1024 || self.max_message_size > 65_535 {
            return Err(KnobError {
                knob: "sip.max_message_size",
                why: "must be between 1024 and 65535 bytes",
            });
        }
        if !(1..=10).contains(&self.timer_resolution_ms) {
            return Err(KnobError {
                knob: "sip.timer_resolution_ms",
                why: "must be between 1 and 10 milliseconds",
            });
        }
        Ok(())
    }
}

impl TlsConfig {
    /// A certificate comes with its key.
    pub fn check(&self) -> Result<(), KnobError> {
        if self.cert_path.is_some() != self.key_path.is_some() {
            return Err(KnobError {
                knob: "tls.cert_path",
                why: "cert_path and key_path are set together or not at all",
            });
        }
        Ok(())
    }
}
