//! Which transport the agent leg takes: the endpoint's (`;transport=` in the LiveKit host),
//! and TCP for an INVITE too large for UDP (RFC 3261 §18.1.1), named in Via and Contact.

use super::*;

/// Routes like `Table`, to an endpoint reached over `transport`.
struct Over(Transport);

impl Router for Over {
    fn route(&self, request: &RouteRequest<'_>) -> Decision {
        match Table.route(request) {
            Decision::Agent(mut target) => {
                target.transport = self.0;
                Decision::Agent(target)
            }
            refused => refused,
        }
    }
}

/// The carrier's INVITE (with `context` bytes of workflow-like context in an `X-` header)
/// through a fresh B2BUA: how the agent's INVITE left.
fn agent_invite(endpoint: Transport, context: usize) -> (Peer, Message) {
    let mut net = Net::new(70, 0.0, AgentMode::Answer, Net::config());
    net.call(NUMBER, &[]);
    let (_, _, bytes) = net.link.pop_front().unwrap();
    let mut invite = Message::parse(bytes).unwrap();
    invite.append_header(HeaderName::UserToUser, Bytes::from("a".repeat(context)));
    let carrier = Peer {
        addr: carrier_addr(),
        transport: Transport::Udp,
        connection: None,
    };
    let mut b2b = B2bua::new(Net::config(), 70);
    b2b.handle_request(net.now, invite, carrier, Arrival::in_country("1"));
    route_all(&mut b2b, net.now, &Over(endpoint));
    std::iter::from_fn(|| b2b.poll_transmit())
        .find(|t| t.to.addr == agent_addr())
        .map(|t| (t.to, Message::parse(t.bytes).unwrap()))
        .expect("an INVITE to the agent")
}

#[test]
fn a_small_invite_goes_by_udp_and_one_over_1300_bytes_by_tcp_even_to_a_udp_endpoint() {
    let (peer, invite) = agent_invite(Transport::Udp, 10);
    assert!(invite.to_bytes().len() <= 1300);
    assert_eq!(peer.transport, Transport::Udp);
    assert!(invite.header(HeaderName::Via).unwrap().starts_with(b"SIP/2.0/UDP "));

    let (peer, invite) = agent_invite(Transport::Udp, 4096);
    assert!(invite.to_bytes().len() > 4096);
    assert_eq!(peer.transport, Transport::Tcp, "RFC 3261 §18.1.1");
    assert!(invite.header(HeaderName::Via).unwrap().starts_with(b"SIP/2.0/TCP "));
    assert!(invite
        .header(HeaderName::Contact)
        .unwrap()
        .ends_with(b";transport=tcp>"));
    assert_eq!(
        invite.request_uri(),
        Some(&b"sip:0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11@livekit.test"[..]),
        "the endpoint is still the UDP one it was configured as"
    );
}

#[test]
fn an_endpoint_named_tcp_or_tls_gets_every_invite_over_it_and_the_uri_says_so() {
    for (transport, token, param) in [(Transport::Tcp, "TCP", "tcp"), (Transport::Tls, "TLS", "tls")] {
        let (peer, invite) = agent_invite(transport, 10);
        assert_eq!(peer.transport, transport);
        let via = String::from_utf8_lossy(invite.header(HeaderName::Via).unwrap()).into_owned();
        assert!(via.starts_with(&format!("SIP/2.0/{token} ")), "{via}");
        let uri = String::from_utf8_lossy(invite.request_uri().unwrap()).into_owned();
        assert!(uri.ends_with(&format!(";transport={param}")), "{uri}");
    }
}

/// The ICMP "port unreachable" the shell reads from a UDP socket, or a refused connection:
/// the agent leg fails at once, but only for the transport it went by.
#[test]
fn a_transport_error_fails_the_agent_leg_only_on_its_own_transport() {
    let mut net = Net::new(71, 0.0, AgentMode::Dead, Net::config());
    net.call(NUMBER, &[]);
    net.run_for(Duration::from_millis(100));
    let error_over = |transport| Peer {
        addr: agent_addr(),
        transport,
        connection: None,
    };
    net.b2b.handle_transport_error(net.now, error_over(Transport::Tcp));
    net.pump_b2b();
    net.run_for(Duration::from_millis(100));
    assert!(net.carrier.finals.is_empty(), "a TCP error says nothing of the UDP leg");

    // A dual-stack socket names an IPv4 destination in its IPv6 form.
    let mapped = match agent_addr() {
        SocketAddr::V4(v4) => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
        v6 => v6,
    };
    net.b2b.handle_transport_error(
        net.now,
        Peer {
            addr: mapped,
            ..error_over(Transport::Udp)
        },
    );
    net.pump_b2b();
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.carrier.finals, vec![503], "within 50 ms, not at the 4 s timeout");
    net.run_for(Duration::from_secs(40));
    net.assert_nothing_left("after a transport error");
}
