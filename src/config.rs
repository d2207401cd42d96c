//! The whole configuration, assembled from each layer's own section (`[sip]` and `[tls]` are
//! the transports', `[journal]` the dialog journal's, ...): this file only puts the sections
//! together, loads them and checks what no one section can; no layer imports it.
//!
//! `config/switchboard.toml` mirrors the sections field for field, every knob with its default
//! and the reason for it; the binary embeds that file as its defaults, so `switchboard serve`
//! with no flags runs the documented configuration. Unknown keys are errors
//! (`deny_unknown_fields`): a typo must never become a silent default.

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
    pub sip: crate::transport::SipConfig,
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
    pub journal: crate::journal::JournalConfig,
    pub directory: crate::directory::DirectoryConfig,
    pub provider: crate::provider::ProviderConfig,
    pub tls: crate::transport::TlsConfig,
    pub log: LogConfig,
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
        if let Err(crate::transport::KnobError { knob, why }) = self.sip.check().and_then(|()| self.tls.check()) {
            return Err(ConfigError::Invalid {
                field: knob,
                reason: why.into(),
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
