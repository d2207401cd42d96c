//! switchboard: a SIP edge that resolves each carrier call to the agent that must answer it
//! and bridges the call, as a B2BUA, to that agent on LiveKit.
//!
//! The modules read in the order a call flows: bytes arrive at `transport`, become `sip`
//! messages, are matched to `transaction`s, bridged by the `b2bua` after `routing` decides
//! who answers from the `directory` snapshot. `store` persists the directory, `api` manages
//! it, `server` wires the shell together.

pub mod api;
pub mod b2bua;
pub mod call_records;
pub mod clock;
pub mod config;
pub mod directory;
pub mod gate;
pub mod journal;
pub mod metrics;
pub mod provider;
pub mod resolve;
pub mod routing;
pub mod security;
pub mod server;
pub mod sip;
pub mod status;
pub mod store;
pub mod transaction;
pub mod transport;
pub mod workflow;
