//! Every knob switchboard has, in one place, with its default and the reason for it.
//!
//! `config/switchboard.toml` mirrors these structs field for field; the binary embeds that file
//! as its defaults, so `switchboard serve` with no flags runs the documented configuration.
//! Unknown keys are errors (`deny_unknown_fields`): a typo must never become a silent default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The defaults shipped with the binary: the same text as `config/switchboard.toml`.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../config/switchboard.toml");

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {origin}: {source}")]
    Parse {
        origin: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid config: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub sip: SipConfig,
    pub b2bua: crate::b2bua::B2buaConfig,
    pub call_records: crate::call_records::CallRecordsConfig,
    pub routing: crate::routing::RoutingConfig,
    /// Where host names (LiveKit, carriers) are looked up, and for how long answers hold.
    #[serde(default)]
    pub resolver: crate::resolve::ResolverConfig,
    pub workflow: crate::workflow::WorkflowConfig,
    pub security: crate::security::SecurityConfig,
    /// Agents' outbound calls: who may place them, where to, how fast (`[outbound]`).
    #[serde(default)]
    pub outbound: crate::routing::outbound::OutboundSettings,
    pub api: crate::api::ApiConfig,
    pub store: crate::store::StoreConfig,
    pub journal: crate::server::JournalConfig,
    pub directory: crate::directory::DirectoryConfig,
    pub provider: crate::provider::ProviderConfig,
    pub tls: TlsConfig,
    pub log: LogConfig,
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

/// Logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// Filter in `RUST_LOG` syntax; the `RUST_LOG` environment variable overrides it.
    pub filter: String,
    /// Mask phone numbers in the per-call log line (`+1******4567`); call records keep them whole.
    pub mask_numbers: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

impl Config {
    /// The embedded defaults, overlaid with the file at `path` when one is given.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut merged: toml::Table = parse_table(EMBEDDED_DEFAULTS, "embedded defaults")?;
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let overlay = parse_table(&text, &path.display().to_string())?;
            overlay_tables(&mut merged, overlay);
        }
        let origin = path.map_or("embedded defaults".to_owned(), |p| p.display().to_string());
        let config: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|source| ConfigError::Parse { origin, source })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if !crate::sip::e164::is_country_code(&self.routing.default_country) {
            return Err(ConfigError::Invalid {
                field: "routing.default_country",
                reason: format!(
                    "{:?} is not a country calling code (digits without +, e.g. \"1\" or \"44\")",
                    self.routing.default_country
                ),
            });
        }
        if self.sip.max_message_size < 1024 || self.sip.max_message_size > 65_535 {
            return Err(ConfigError::Invalid {
                field: "sip.max_message_size",
                reason: "must be between 1024 and 65535 bytes".into(),
            });
        }
        if !(1..=10).contains(&self.sip.timer_resolution_ms) {
            return Err(ConfigError::Invalid {
                field: "sip.timer_resolution_ms",
                reason: "must be between 1 and 10 milliseconds".into(),
            });
        }
        if self.tls.cert_path.is_some() != self.tls.key_path.is_some() {
            return Err(ConfigError::Invalid {
                field: "tls.cert_path",
                reason: "cert_path and key_path are set together or not at all".into(),
            });
        }
        if let Err(crate::workflow::WorkflowError::Config { knob, why }) = self.workflow.check() {
            return Err(ConfigError::Invalid {
                field: knob,
                reason: format!("[workflow] {why}"),
            });
        }
        if let Err(err) = self.security.validate() {
            return Err(ConfigError::Invalid {
                field: "security",
                reason: err.to_string(),
            });
        }
        if self.routing.org_workers == 0 {
            return Err(ConfigError::Invalid {
                field: "routing.org_workers",
                reason: "must be at least 1".into(),
            });
        }
        if let Some(pinned) = &self.routing.pinned_time {
            if pinned.parse::<jiff::Timestamp>().is_err() {
                return Err(ConfigError::Invalid {
                    field: "routing.pinned_time",
                    reason: "must be an RFC 3339 timestamp".into(),
                });
            }
        }
        self.check_outbound()
    }

    fn check_outbound(&self) -> Result<(), ConfigError> {
        let o = &self.outbound;
        if let Err(reason) = crate::routing::outbound::SourceAcl::parse(&o.livekit_sources) {
            return Err(ConfigError::Invalid {
                field: "outbound.livekit_sources",
                reason,
            });
        }
        let limits = std::iter::once(("default", o.calls_per_second, o.burst)).chain(o.trunks.iter().map(|(id, t)| {
            (
                id.as_str(),
                t.calls_per_second.unwrap_or(o.calls_per_second),
                t.burst.unwrap_or(o.burst),
            )
        }));
        for (trunk, cps, burst) in limits {
            if !(cps > 0.0 && cps.is_finite()) || burst == 0 {
                return Err(ConfigError::Invalid {
                    field: "outbound.calls_per_second",
                    reason: format!("{trunk}: calls_per_second must be above 0 and burst at least 1"),
                });
            }
        }
        Ok(())
    }
}

fn parse_table(text: &str, origin: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|source| ConfigError::Parse {
        origin: origin.to_owned(),
        source,
    })
}

/// Key-by-key overlay, so an operator's file only names what it changes.
fn overlay_tables(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => overlay_tables(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_load_and_validate() {
        let config = Config::load(None).expect("embedded defaults are valid");
        assert_eq!(config.sip.udp_listen, Some("0.0.0.0:5060".parse().unwrap()));
        assert_eq!(config.log.format, LogFormat::Human);
    }

    #[test]
    fn an_overlay_changes_only_what_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[sip]\nudp_listen = \"127.0.0.1:5999\"\n").unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.sip.udp_listen, Some("127.0.0.1:5999".parse().unwrap()));
        assert_eq!(config.sip.tcp_listen, Some("0.0.0.0:5060".parse().unwrap()));
    }

    #[test]
    fn the_outbound_defaults_are_the_safe_ones() {
        let config = Config::load(None).unwrap();
        let o = &config.outbound;
        assert!(o.livekit_sources.is_empty(), "no outbound calls until LiveKit is named");
        assert_eq!(o.deny_prefixes, ["+1900", "+1976"]);
        assert!(!o.allow_international);
        assert!(o.shared_secret.0.is_empty() && o.managed_termination_host.is_empty());
    }

    #[test]
    fn a_bad_livekit_source_or_a_zero_call_rate_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[outbound]\nlivekit_sources = [\"10.0.0.0/40\"]\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("livekit_sources"), "{err}");
        std::fs::write(&path, "[outbound.trunks.t1]\ncalls_per_second = 0\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("t1"), "{err}");
    }

    #[test]
    fn a_timer_resolution_outside_1_to_10_ms_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for bad in [0, 11] {
            std::fs::write(&path, format!("[sip]\ntimer_resolution_ms = {bad}\n")).unwrap();
            let err = Config::load(Some(&path)).unwrap_err().to_string();
            assert!(err.contains("sip.timer_resolution_ms"), "{err}");
        }
        std::fs::write(&path, "[sip]\ntimer_resolution_ms = 1\n").unwrap();
        assert_eq!(Config::load(Some(&path)).unwrap().sip.timer_resolution_ms, 1);
    }

    #[test]
    fn a_misspelt_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[sip]\nudp_lisen = \"127.0.0.1:5999\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("udp_lisen"), "{err}");
    }
}
