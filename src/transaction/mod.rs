//! RFC 3261 §17 transactions as pure state machines, and the table that matches messages
//! to them. Nothing here reads a clock or touches a socket: callers pass `now`, messages and
//! the bytes to (re)send, and collect [`Output`]s.
//!
//! Retransmissions resend stored bytes. Timers carry the RFC's names ([`Timer`]). The table
//! drops a transaction the moment it terminates, so a finished call leaves nothing behind.

mod client;
mod key;
mod server;
mod table;
mod timer;

#[cfg(test)]
mod sim_tests;

pub use client::{ClientInvite, ClientNonInvite};
pub use key::{new_branch, ClientKey, ServerKey};
pub use server::{ServerInvite, ServerNonInvite};
pub use table::{Output, RequestMatch, Transactions, TxId};
pub use timer::{Timer, TimerConfig};

use crate::sip::Message;

/// What a machine asks of its table.
#[derive(Debug)]
pub enum Action {
    Transmit(bytes::Bytes),
    Deliver(TxEvent),
}

/// What a transaction tells the TU (the B2BUA).
#[derive(Debug)]
pub enum TxEvent {
    /// A 1xx to our request.
    Provisional(Message),
    /// The first final response to our request.
    Final(Message),
    /// RFC 6026: a retransmitted 2xx to our INVITE (the TU re-ACKs it).
    Retransmitted2xx(Message),
    /// Timer B or F (client: no final response), Timer H (server: no ACK).
    Timeout,
    TransportError,
}
