//! A DNS server played by a test, on loopback: enough of one to move a host (its A answer
//! can change while it runs), with TTLs of one second. Shared by the resolver's unit tests
//! (`src/resolve/tests.rs` includes this file) and the live tests.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

/// A DNS server on loopback answering A queries for `name` with `ip` (changeable) and a
/// 1 s TTL, SRV `_sip._udp.<name>` with port 5080 when `srv` is set; NXDOMAIN otherwise.
pub struct TestDns {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    pub ip: Arc<Mutex<Ipv4Addr>>,
    pub queries: Arc<Mutex<Vec<String>>>,
}

impl TestDns {
    pub fn start(name: &'static str, ip: Ipv4Addr, srv: bool) -> TestDns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let ip = Arc::new(Mutex::new(ip));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let (answer_ip, seen) = (ip.clone(), queries.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(q) = query.queries().first().cloned() else {
                    continue;
                };
                let asked = q.name().to_utf8();
                seen.lock().unwrap().push(format!("{} {}", q.query_type(), asked));
                let mut reply = Message::new();
                reply
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .set_recursion_desired(true)
                    .set_recursion_available(true)
                    .add_query(q.clone());
                let host = Name::from_ascii(format!("{name}.")).unwrap();
                let srv_name = Name::from_ascii(format!("_sip._udp.{name}.")).unwrap();
                match q.query_type() {
                    RecordType::A if q.name() == &host => {
                        let a = RData::A(A(*answer_ip.lock().unwrap()));
                        reply.add_answer(Record::from_rdata(host, 1, a));
                    }
                    RecordType::SRV if srv && q.name() == &srv_name => {
                        let rdata = RData::SRV(SRV::new(10, 5, 5080, host));
                        reply.add_answer(Record::from_rdata(srv_name, 1, rdata));
                    }
                    RecordType::AAAA if q.name() == &host => {}
                    _ => {
                        reply.set_response_code(ResponseCode::NXDomain);
                    }
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), from);
            }
        });
        TestDns { addr, ip, queries }
    }
}
