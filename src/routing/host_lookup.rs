//! Host names, as routing sees them: answered from memory. Routing never resolves a name
//! itself (no DNS, no blocking); the shell's resolver (`crate::resolve`) keeps the answers
//! fresh off the call path and lends them through [`HostLookup`]. An IP literal needs no
//! lookup at all ([`Literal`]).

use std::net::{IpAddr, SocketAddr};

use crate::transport::Transport;

/// A SIP host to reach: a name or IP literal, the port if one was written, and the
/// transport (which picks the default port, and the SRV service when no port is written,
/// RFC 3263 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostName<'a> {
    /// The name or IP literal, without brackets.
    pub name: &'a str,
    pub port: Option<u16>,
    pub transport: Transport,
}

impl HostName<'_> {
    /// The port when none is written: 5060, or 5061 for TLS (RFC 3261 §19.1.2).
    pub fn default_port(&self) -> u16 {
        if self.transport == Transport::Tls {
            5061
        } else {
            5060
        }
    }

    /// The address itself when the host is an IP literal.
    pub fn literal(&self) -> Option<SocketAddr> {
        let ip: IpAddr = self.name.parse().ok()?;
        Some(SocketAddr::new(ip, self.port.unwrap_or_else(|| self.default_port())))
    }
}

/// Where a host is, as last resolved. Implementations answer from memory; only a name
/// never seen before may wait (bounded) for its first answer, in [`HostLookup::lookup`].
pub trait HostLookup: Send + Sync {
    /// The address to send to, or `None` when the host has no known address (yet).
    fn lookup(&self, host: &HostName<'_>) -> Option<SocketAddr>;

    /// The address when it is already known, without ever waiting: what a route decided on
    /// the SIP thread may use. `None` also when the host is not resolved yet (then the
    /// call goes to a routing worker, which may wait in [`HostLookup::lookup`]).
    fn peek(&self, host: &HostName<'_>) -> Option<SocketAddr> {
        host.literal()
    }
}

/// How a router reaches a host's address: on a routing worker it may wait for a name's
/// first answer; deciding on the SIP thread ([`super::Router::quick`]) it takes only what
/// is known, and a host not known yet sends the call to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    Wait,
    Known,
}

impl Reach {
    pub(crate) fn find(self, hosts: &dyn HostLookup, host: &HostName<'_>) -> Option<SocketAddr> {
        match self {
            Reach::Wait => hosts.lookup(host),
            Reach::Known => hosts.peek(host),
        }
    }
}

/// Answers IP literals only: for tests and for configurations that name no host.
#[derive(Debug, Clone, Copy, Default)]
pub struct Literal;

impl HostLookup for Literal {
    fn lookup(&self, host: &HostName<'_>) -> Option<SocketAddr> {
        host.literal()
    }
}

/// Fixed names, for tests: each name's address, at the port the host asks for.
#[cfg(test)]
pub struct Names(pub Vec<(&'static str, IpAddr)>);

#[cfg(test)]
impl HostLookup for Names {
    fn lookup(&self, host: &HostName<'_>) -> Option<SocketAddr> {
        let ip = match host.literal() {
            Some(addr) => addr.ip(),
            None => self.0.iter().find(|(name, _)| *name == host.name)?.1,
        };
        Some(SocketAddr::new(ip, host.port.unwrap_or_else(|| host.default_port())))
    }

    fn peek(&self, host: &HostName<'_>) -> Option<SocketAddr> {
        self.lookup(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_resolve_to_themselves_with_the_transports_default_port() {
        let host = |name, port, transport| HostName { name, port, transport };
        assert_eq!(
            Literal.lookup(&host("192.0.2.1", None, Transport::Udp)),
            Some("192.0.2.1:5060".parse().unwrap())
        );
        assert_eq!(
            Literal.lookup(&host("2001:db8::1", None, Transport::Tls)),
            Some("[2001:db8::1]:5061".parse().unwrap())
        );
        assert_eq!(
            Literal.lookup(&host("192.0.2.1", Some(5090), Transport::Tcp)),
            Some("192.0.2.1:5090".parse().unwrap())
        );
        assert_eq!(Literal.lookup(&host("lk.test", None, Transport::Udp)), None);
    }
}
