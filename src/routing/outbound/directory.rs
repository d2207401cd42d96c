//! The outbound rules (see the module doc) over the directory snapshot and the
//! `[outbound]` settings.

use std::sync::Arc;

use super::destinations::DestinationPolicy;
use super::index::OutboundSlotIndex;
use super::settings::OutboundSettings;
use super::{CarrierTarget, Credentials, OutboundDecision, OutboundRefusal, OutboundRequest, OutboundRouter};
use crate::directory::model::{MediaEncryption, PhoneNumber, SipTransport, Trunk};
use crate::directory::{Directory, Snapshot};
use crate::routing::{HostLookup, HostName, Literal, Reach};
use crate::sip::e164;
use crate::transport::{TlsNames, Transport};

/// Decides outbound calls from the directory.
pub struct DirectoryOutboundRouter {
    directory: Arc<Directory>,
    settings: OutboundSettings,
    slots: OutboundSlotIndex,
    /// Carrier hosts' addresses, as the shell's resolver last found them.
    hosts: Arc<dyn HostLookup>,
    /// Where the host names of TLS carriers are remembered for certificate checks.
    tls_names: Option<Arc<TlsNames>>,
}

/// Why [`DirectoryOutboundRouter::decide`] gave no carrier.
enum Stop {
    Refuse(OutboundRefusal),
    /// Deciding on the SIP thread, it needs what only a routing worker may wait for.
    Later,
}

impl From<OutboundRefusal> for Stop {
    fn from(refusal: OutboundRefusal) -> Stop {
        Stop::Refuse(refusal)
    }
}

/// Where a trunk's calls go, before the address is resolved.
struct Route {
    host: String,
    transport: Transport,
    credentials: Option<Credentials>,
    media_encryption: MediaEncryption,
}

impl DirectoryOutboundRouter {
    pub fn new(directory: Arc<Directory>, settings: OutboundSettings) -> DirectoryOutboundRouter {
        DirectoryOutboundRouter {
            directory,
            settings,
            slots: OutboundSlotIndex::default(),
            hosts: Arc::new(Literal),
            tls_names: None,
        }
    }

    /// Find carrier hosts' addresses in `hosts` (without it, only IP literals are reached).
    pub fn with_lookup(mut self, hosts: Arc<dyn HostLookup>) -> DirectoryOutboundRouter {
        self.hosts = hosts;
        self
    }

    /// Remember the host each TLS carrier address was resolved from in `names` (the
    /// dispatcher checks the carrier's certificate against it).
    pub fn with_tls_names(mut self, names: Arc<TlsNames>) -> DirectoryOutboundRouter {
        self.tls_names = Some(names);
        self
    }

    /// The carrier, or why not; [`Stop::Later`] only when `reach` is [`Reach::Known`] and the
    /// call needs a routing worker (a carrier host not resolved yet, an index to build).
    fn decide(&self, request: &OutboundRequest<'_>, reach: Reach) -> Result<CarrierTarget, Stop> {
        if !self.settings.secret_matches(request.secret) {
            return Err(OutboundRefusal::NotAuthorised.into());
        }
        let snapshot = self.directory.snapshot();
        let version_id = request.agent_version_id.ok_or(OutboundRefusal::NoAgentVersion)?;
        let version = snapshot
            .versions
            .get(version_id)
            .filter(|v| v.published)
            .ok_or(OutboundRefusal::UnknownAgentVersion)?;
        let number = self.caller_id(&snapshot, request, version_id, &version.org_id, reach)?;
        // A destination dialled without `+` is national in the caller ID's country.
        let country = e164::country_code(&number.phone_number).unwrap_or(request.country);
        let dialed = e164::normalise(request.dialed, country).ok_or(OutboundRefusal::InvalidDestination)?;
        DestinationPolicy::for_org(&self.settings, &number.org_id).check(&number.phone_number, &dialed)?;
        let trunk = snapshot
            .trunks
            .get(&number.trunk_id)
            .ok_or(OutboundRefusal::NoOutboundTrunk)?;
        let route = self.trunk_route(trunk)?;
        let host = carrier_host(&route.host, route.transport).ok_or(OutboundRefusal::NoDestination)?;
        let destination = match reach.find(&*self.hosts, &host) {
            Some(addr) => addr,
            None if reach == Reach::Known => return Err(Stop::Later),
            None => return Err(OutboundRefusal::NoDestination.into()),
        };
        if let (Transport::Tls, Some(names)) = (route.transport, &self.tls_names) {
            names.remember(destination, host.name);
        }
        Ok(CarrierTarget {
            org_id: number.org_id.clone(),
            trunk_id: trunk.id.clone(),
            number_id: number.id.clone(),
            agent_id: version.agent_id.clone(),
            agent_version_id: version.id.clone(),
            caller_id: number.phone_number.clone(),
            dialed,
            host: route.host,
            destination,
            transport: route.transport,
            credentials: route.credentials,
            media_encryption: route.media_encryption,
            managed: trunk.is_managed(),
            limits: self.settings.limits(&trunk.id),
        })
    }

    /// The number the call is placed from (rule 3 of the module doc).
    fn caller_id(
        &self,
        snapshot: &Arc<Snapshot>,
        request: &OutboundRequest<'_>,
        version_id: &str,
        org_id: &str,
        reach: Reach,
    ) -> Result<Arc<PhoneNumber>, Stop> {
        // A From user that is no phone number ("anonymous", an agent id) asks for nothing.
        // A caller ID asked for without `+` is national in the country the call came in with.
        match request.caller_id.and_then(|a| e164::normalise(a, request.country)) {
            Some(asked) => {
                let number = snapshot
                    .number(&asked)
                    .filter(|n| n.org_id == org_id)
                    .ok_or(OutboundRefusal::CallerIdNotHosted)?;
                let own = number.outbound_agent_version_id.as_deref() == Some(version_id);
                if own || number.outbound_shareable {
                    Ok(number.clone())
                } else {
                    Err(OutboundRefusal::CallerIdNotAllowed.into())
                }
            }
            // The index is built on a worker: a pass over every number has no place on the
            // SIP thread.
            None => match self.slots.numbers(snapshot, version_id, reach == Reach::Wait) {
                None => Err(Stop::Later),
                Some(numbers) => match numbers.as_slice() {
                    [] => Err(OutboundRefusal::NoCallerId.into()),
                    [only] => Ok(snapshot.number(only).cloned().ok_or(OutboundRefusal::NoCallerId)?),
                    _ => Err(OutboundRefusal::AmbiguousCallerId.into()),
                },
            },
        }
    }

    /// Where a trunk's calls go: a BYOC trunk's own config, or the managed carrier.
    fn trunk_route(&self, trunk: &Trunk) -> Result<Route, OutboundRefusal> {
        if let Some(account) = &trunk.managed_account_id {
            let s = &self.settings;
            if s.managed_termination_host.is_empty() {
                return Err(OutboundRefusal::NoOutboundTrunk);
            }
            let credentials = match s.managed_accounts.get(account) {
                Some(a) => Some(Credentials {
                    username: a.username.clone(),
                    password: a.password.clone(),
                }),
                None => (!s.managed_username.is_empty()).then(|| Credentials {
                    username: s.managed_username.clone(),
                    password: s.managed_password.clone(),
                }),
            };
            return Ok(Route {
                host: strip_scheme(&s.managed_termination_host).to_owned(),
                transport: transport_of(s.managed_transport),
                credentials,
                media_encryption: MediaEncryption::None,
            });
        }
        let config = trunk.outbound_config.as_ref().ok_or(OutboundRefusal::NoOutboundTrunk)?;
        if config.address.trim().is_empty() {
            return Err(OutboundRefusal::NoOutboundTrunk);
        }
        Ok(Route {
            host: strip_scheme(&config.address).to_owned(),
            transport: transport_of(config.transport),
            credentials: (!config.auth_username.is_empty()).then(|| Credentials {
                username: config.auth_username.clone(),
                password: config.auth_password.clone(),
            }),
            media_encryption: config.media_encryption,
        })
    }

    /// Every carrier host the directory's trunks (and the managed carrier) send to, for the
    /// resolver to keep fresh.
    pub fn hosts(&self) -> Vec<(String, Option<u16>, Transport)> {
        let snapshot = self.directory.snapshot();
        snapshot
            .trunks
            .values()
            .filter_map(|trunk| self.trunk_route(trunk).ok())
            .filter_map(|route| {
                let host = carrier_host(&route.host, route.transport)?;
                Some((host.name.to_owned(), host.port, host.transport))
            })
            .collect()
    }
}

impl OutboundRouter for DirectoryOutboundRouter {
    fn route_outbound(&self, request: &OutboundRequest<'_>) -> OutboundDecision {
        match self.decide(request, Reach::Wait) {
            Ok(target) => OutboundDecision::Carrier(Box::new(target)),
            Err(Stop::Refuse(refusal)) => OutboundDecision::Refuse(refusal),
            // Waiting for what it needs, it always decides.
            Err(Stop::Later) => OutboundDecision::Refuse(OutboundRefusal::NoDestination),
        }
    }

    fn quick_outbound(&self, request: &OutboundRequest<'_>) -> Option<OutboundDecision> {
        match self.decide(request, Reach::Known) {
            Ok(target) => Some(OutboundDecision::Carrier(Box::new(target))),
            Err(Stop::Refuse(refusal)) => Some(OutboundDecision::Refuse(refusal)),
            Err(Stop::Later) => None,
        }
    }

    fn org_of(&self, agent_version_id: &str) -> Option<String> {
        let snapshot = self.directory.snapshot();
        snapshot.versions.get(agent_version_id).map(|v| v.org_id.clone())
    }
}

/// `sip:user@host:port;transport=udp` as a client may write it -> `host:port`.
fn strip_scheme(address: &str) -> &str {
    let address = address.trim();
    let address = address
        .strip_prefix("sips:")
        .or_else(|| address.strip_prefix("sip:"))
        .unwrap_or(address);
    let address = address.split(';').next().unwrap_or(address);
    address.rsplit_once('@').map_or(address, |(_, host)| host)
}

/// `host[:port]` as a trunk names it, to look up.
fn carrier_host(host: &str, transport: Transport) -> Option<HostName<'_>> {
    let (name, port) = crate::sip::uri::split_host_port(host.as_bytes()).ok()?;
    let name = std::str::from_utf8(name).ok()?.trim_matches(['[', ']']);
    Some(HostName { name, port, transport })
}

fn transport_of(t: SipTransport) -> Transport {
    match t {
        SipTransport::Udp => Transport::Udp,
        SipTransport::Tcp => Transport::Tcp,
        SipTransport::Tls => Transport::Tls,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod address_tests {
    #[test]
    fn a_trunk_address_is_read_as_host_and_port_however_it_is_written() {
        for (written, host) in [
            ("sip.carrier.example", "sip.carrier.example"),
            (
                " sip:sip.carrier.example:5080;transport=tcp",
                "sip.carrier.example:5080",
            ),
            ("sips:trunk@203.0.113.7:5061", "203.0.113.7:5061"),
            ("[2001:db8::1]:5060", "[2001:db8::1]:5060"),
        ] {
            assert_eq!(super::strip_scheme(written), host, "{written}");
        }
    }
}
