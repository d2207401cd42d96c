//! The SIP message core (RFC 3261 §7, §20, §25): a zero-copy parser over `bytes::Bytes`,
//! typed header views parsed on demand, edits that touch only what changes, builders for
//! new requests and responses, request validation, and stream framing.
//!
//! This module owns the wire format only. It does not decide where a message goes, keep
//! transaction state, or read a clock.

mod accessors;
mod builder;
mod cseq;
pub mod e164;
mod edit;
mod error;
mod frame;
mod header;
pub mod lex;
mod limits;
mod message;
mod method;
mod name_addr;
pub mod uri;
mod validate;
mod via;

pub use builder::{best_effort_response, response_for, response_sized, Decimal, RequestBuilder, ResponseBuilder};
pub use cseq::CSeq;
pub use error::ParseError;
pub use frame::{Frame, FrameError, StreamFramer};
pub use header::HeaderName;
pub use limits::Limits;
pub use message::Message;
pub use method::{is_token, Method};
pub use name_addr::NameAddr;
pub use uri::{unescape, Scheme, Uri};
pub use validate::{validate_request, Rejection, SUPPORTED_OPTIONS};
pub use via::Via;
