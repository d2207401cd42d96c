//! A LiveKit SIP endpoint as configured (`[routing] livekit_host`, an org's
//! `livekit_sip_host`): `host[:port][;transport=udp|tcp|tls]`, the way a SIP URI names a host
//! and its transport (RFC 3261 §19.1.1). UDP by default; the port defaults to 5060, or 5061
//! for TLS (RFC 3261 §19.1.2), where LiveKit listens.

use super::HostName;
use crate::transport::Transport;

/// An endpoint split into where it is and how it is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivekitHost<'a> {
    /// `host[:port]` as written: the agent leg's request-URI names it so.
    pub host: &'a str,
    pub transport: Transport,
}

/// Why an endpoint is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}`: expected host[:port][;transport=udp|tcp|tls]")]
pub struct BadLivekitHost(pub String);

impl<'a> LivekitHost<'a> {
    pub fn parse(text: &'a str) -> Result<LivekitHost<'a>, BadLivekitHost> {
        let bad = || BadLivekitHost(text.to_owned());
        let (host, params) = text.split_once(';').unwrap_or((text, ""));
        let mut transport = Transport::Udp;
        for param in params.split(';').filter(|p| !p.is_empty()) {
            let (name, value) = param.split_once('=').ok_or_else(bad)?;
            if !name.trim().eq_ignore_ascii_case("transport") {
                return Err(bad());
            }
            transport = match value.trim().to_ascii_lowercase().as_str() {
                "udp" => Transport::Udp,
                "tcp" => Transport::Tcp,
                "tls" => Transport::Tls,
                _ => return Err(bad()),
            };
        }
        let host = host.trim();
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(bad());
        }
        Ok(LivekitHost { host, transport })
    }

    /// The host with no port (and no brackets around an IPv6 literal), for certificate names.
    pub fn name(&self) -> &'a str {
        self.split().0
    }

    /// The host to look up: its name (or IP literal) and the port if written; `None` when
    /// the port is not a number.
    pub fn host_name(&self) -> Option<HostName<'a>> {
        let (name, port) = self.split();
        let port = match port {
            Some(port) => Some(port.parse().ok()?),
            None => None,
        };
        Some(HostName {
            name,
            port,
            transport: self.transport,
        })
    }

    /// `host:port` to resolve, with the transport's default port when none is written.
    pub fn with_port(&self) -> String {
        if self.split().1.is_some() {
            return self.host.to_owned();
        }
        let port = if self.transport == Transport::Tls { 5061 } else { 5060 };
        format!("{}:{port}", self.host)
    }

    /// (name, port as written).
    fn split(&self) -> (&'a str, Option<&'a str>) {
        if let Some(rest) = self.host.strip_prefix('[') {
            let (name, after) = rest.split_once(']').unwrap_or((rest, ""));
            return (name, after.strip_prefix(':'));
        }
        match self.host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (self.host, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_name_their_transport_and_default_their_port_by_it() {
        let cases = [
            ("127.0.0.1:5090", "127.0.0.1:5090", Transport::Udp, "127.0.0.1:5090"),
            (
                "sip.livekit.cloud",
                "sip.livekit.cloud",
                Transport::Udp,
                "sip.livekit.cloud:5060",
            ),
            (
                "sip.livekit.cloud;transport=tls",
                "sip.livekit.cloud",
                Transport::Tls,
                "sip.livekit.cloud:5061",
            ),
            (
                "lk.test:5070;transport=TCP",
                "lk.test:5070",
                Transport::Tcp,
                "lk.test:5070",
            ),
            (
                "[2001:db8::1];transport=tls",
                "[2001:db8::1]",
                Transport::Tls,
                "[2001:db8::1]:5061",
            ),
            (
                "[2001:db8::1]:5080",
                "[2001:db8::1]:5080",
                Transport::Udp,
                "[2001:db8::1]:5080",
            ),
        ];
        for (text, host, transport, with_port) in cases {
            let parsed = LivekitHost::parse(text).unwrap();
            assert_eq!((parsed.host, parsed.transport), (host, transport), "{text}");
            assert_eq!(parsed.with_port(), with_port, "{text}");
        }
        assert_eq!(
            LivekitHost::parse("lk.test:5061;transport=tls").unwrap().name(),
            "lk.test"
        );
    }

    #[test]
    fn other_parameters_or_transports_are_errors() {
        for text in [
            "",
            "lk.test;transport=sctp",
            "lk.test;maddr=1.2.3.4",
            "lk.test;transport",
            "a b",
        ] {
            assert!(LivekitHost::parse(text).is_err(), "{text:?}");
        }
    }
}
