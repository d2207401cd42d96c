//! Managed numbers: searching a provider's inventory and buying from it, behind a trait.
//! The offline sandbox (the default) keeps a local inventory so search and purchase work on
//! a laptop; a Twilio REST client plugs in behind the same trait. Releasing a number gives
//! it back.

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
    /// Give a bought number back to the provider, which stops billing it and may sell it
    /// again. A number the account no longer holds is released already: `Ok`.
    fn release(&self, e164: &str) -> Result<(), ProviderError>;
    /// The managed account purchased numbers land in.
    fn account_id(&self) -> &str;
}

/// Which provider sells managed numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// An offline inventory: search and purchase work on a laptop.
    Sandbox,
    /// Twilio's REST API.
    Twilio,
}

/// `[provider]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// The managed account id recorded on the org's managed trunk.
    pub managed_account_id: String,
    /// Twilio's API root (a local fake in tests).
    pub twilio_base_url: String,
    pub twilio_account_sid: String,
    /// Secret: never logged.
    pub twilio_auth_token: crate::directory::model::Secret,
    /// The account's Elastic SIP Trunk (`TK...`) bought numbers are attached to, so their
    /// calls reach switchboard; empty leaves them unattached.
    pub twilio_sip_trunk_sid: String,
    /// Twilio's trunking API root (a local fake in tests).
    pub twilio_trunking_base_url: String,
}

impl Default for ProviderConfig {
    fn default() -> ProviderConfig {
        ProviderConfig {
            kind: ProviderKind::Sandbox,
            managed_account_id: "AC_sandbox".into(),
            twilio_base_url: "https://api.twilio.com".into(),
            twilio_account_sid: String::new(),
            twilio_auth_token: Default::default(),
            twilio_sip_trunk_sid: String::new(),
            twilio_trunking_base_url: "https://trunking.twilio.com".into(),
        }
    }
}

impl ProviderConfig {
    /// The configured provider.
    pub fn build(&self) -> std::sync::Arc<dyn NumberProvider> {
        match self.kind {
            ProviderKind::Twilio => {
                let twilio = Twilio::new(
                    &self.twilio_base_url,
                    &self.twilio_account_sid,
                    self.twilio_auth_token.clone(),
                    &self.managed_account_id,
                );
                std::sync::Arc::new(match self.twilio_sip_trunk_sid.trim() {
                    "" => twilio,
                    trunk => twilio.with_sip_trunk(&self.twilio_trunking_base_url, trunk),
                })
            }
            ProviderKind::Sandbox => std::sync::Arc::new(Sandbox::new(self.managed_account_id.clone())),
        }
    }
}
