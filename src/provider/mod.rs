//! Managed numbers: searching a provider's inventory and buying from it, behind a trait.
//! The offline sandbox (the default) keeps a local inventory so search and purchase work on
//! a laptop; a Twilio REST client plugs in behind the same trait.

mod sandbox;
mod twilio;

use serde::{Deserialize, Serialize};

pub use sandbox::Sandbox;
pub use twilio::Twilio;

/// Search filters (the product's: country, type, capabilities, area code, region, postal code).
#[derive(Debug, Clone, Deserialize)]
pub struct SearchQuery {
    #[serde(default = "us")]
    pub country_code: String,
    #[serde(default = "local", rename = "type")]
    pub number_type: String,
    pub voice: Option<String>,
    pub sms: Option<String>,
    pub mms: Option<String>,
    pub area_code: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub limit: Option<String>,
}

fn us() -> String {
    "US".into()
}

fn local() -> String {
    "local".into()
}

/// A number a provider offers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvailableNumber {
    pub phone_number: String,
    pub country_code: String,
    #[serde(rename = "type")]
    pub number_type: String,
    pub region: String,
    pub postal_code: String,
    pub voice: bool,
    pub sms: bool,
    pub mms: bool,
}

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("{0} is not available for purchase")]
    NotAvailable(String),
    #[error("invalid search: {field}: {message}")]
    InvalidQuery { field: &'static str, message: String },
    #[error("the provider failed: {0}")]
    Upstream(String),
}

/// A managed-number provider.
pub trait NumberProvider: Send + Sync {
    fn search(&self, query: &SearchQuery) -> Result<Vec<AvailableNumber>, ProviderError>;
    /// Buy a number; returns the provider's id for it.
    fn purchase(&self, e164: &str) -> Result<String, ProviderError>;
    /// The managed account purchased numbers land in.
    fn account_id(&self) -> &str;
}

/// `[provider]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// `sandbox` (offline inventory). The Twilio client is still to come.
    pub kind: String,
    /// The managed account id recorded on the org's managed trunk.
    pub managed_account_id: String,
}

impl Default for ProviderConfig {
    fn default() -> ProviderConfig {
        ProviderConfig {
            kind: "sandbox".into(),
            managed_account_id: "AC_sandbox".into(),
        }
    }
}
