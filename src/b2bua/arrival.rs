//! What the front door (the shell, after parse, the gate and validation) tells the call core
//! with each request: whose carrier the gate admitted a new call as, and the country its
//! numbers are read in. The core keeps no country of its own: `[routing] default_country`
//! travels with every new call, into its route facts ([`crate::routing::RouteQuery`]'s
//! numbers, [`crate::routing::OutboundQuery`]'s country) and its record.

use std::sync::Arc;

use super::CarrierId;

/// The front door's facts of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// Whose carrier a new inbound call came from, as the gate identified it (`None` inside
    /// dialogs, for LiveKit's calls, or with no gate).
    pub carrier: Option<CarrierId>,
    /// `[routing] default_country`: the country calling code of numbers written without `+`.
    pub country: Arc<str>,
}

impl Arrival {
    /// A request whose numbers read in `country`, from no carrier the gate named.
    pub fn in_country(country: impl Into<Arc<str>>) -> Arrival {
        Arrival {
            carrier: None,
            country: country.into(),
        }
    }

    /// The same, from `carrier`.
    pub fn from_carrier(mut self, carrier: Option<CarrierId>) -> Arrival {
        self.carrier = carrier;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b2bua::{B2bua, Peer};
    use crate::routing::Query;
    use crate::sip::{HeaderName, Message, Method, RequestBuilder};
    use crate::transport::Transport;

    fn invite(to: &str, from: &str) -> Message {
        RequestBuilder::new(Method::Invite, format!("sip:{to}@sb.test").as_bytes())
            .header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKarrival")
            .header(HeaderName::From, format!("<sip:{from}@192.0.2.1>;tag=f"))
            .header(HeaderName::To, format!("<sip:{to}@sb.test>"))
            .header(HeaderName::CallId, "arrival-1")
            .header(HeaderName::CSeq, "1 INVITE")
            .header(HeaderName::MaxForwards, "70")
            .build()
    }

    fn peer() -> Peer {
        Peer {
            addr: "192.0.2.1:5060".parse().unwrap(),
            transport: Transport::Udp,
            connection: None,
        }
    }

    #[test]
    fn a_core_reads_national_numbers_in_the_country_the_front_door_sends() {
        let now = std::time::Instant::now();
        for (country, called, calling) in [
            ("44", "+442071838750", "+441632960001"),
            ("1", "+12071838750", "+11632960001"),
        ] {
            let mut core = B2bua::new(Default::default(), 1);
            core.handle_request(
                now,
                invite("2071838750", "1632960001"),
                peer(),
                Arrival::in_country(country),
            );
            let Some(Query::Inbound(facts)) = core.poll_route().map(|r| r.facts) else {
                panic!("{country}: the call waits for its route");
            };
            assert_eq!(
                (facts.called.as_str(), facts.caller.as_str()),
                (called, calling),
                "{country}"
            );
        }
    }

    #[test]
    fn an_outbound_calls_facts_carry_the_country_to_the_router() {
        let now = std::time::Instant::now();
        let mut core = B2bua::new(Default::default(), 1);
        let agent_call = invite("2071838750", "1632960001");
        core.handle_outbound_request(now, agent_call, peer(), Arrival::in_country("44"));
        let Some(Query::Outbound(facts)) = core.poll_route().map(|r| r.facts) else {
            panic!("the agent's call waits for its route");
        };
        assert_eq!(&*facts.country, "44");
        assert_eq!(facts.caller_id.as_deref(), Some("+441632960001"));
    }
}
