//! TLS on the SIP edge with rustls: a call over TLS, a certificate swapped under a live
//! listener with no handshake failing (the new certificate is served from the next
//! handshake on), and a trunk that takes calls only from the client certificate it pins.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Agent, Server};
use rustls::pki_types::{CertificateDer, ServerName};

fn certificate() -> (String, String) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (generated.cert.pem(), generated.signing_key.serialize_pem())
}

fn der(pem: &str) -> CertificateDer<'static> {
    rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes()).unwrap()
}

/// A client trusting these certificates.
fn client(trusted: &[&str]) -> Arc<rustls::ClientConfig> {
    client_presenting(trusted, None)
}

/// A client trusting these certificates and presenting `identity` (certificate and key PEM).
fn client_presenting(trusted: &[&str], identity: Option<&(String, String)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for pem in trusted {
        roots.add(der(pem)).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some((cert, key)) => {
            let key: rustls_pki_types::PrivateKeyDer =
                rustls_pki_types::pem::PemObject::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(vec![der(cert)], key).unwrap()
        }
        None => builder.with_no_client_auth(),
    })
}

/// A TLS connection to the server from the loopback address `from` (so it is no trunk's
/// carrier by address unless a trunk lists it).
fn connect_from(
    from: &str,
    server: &Server,
    config: Arc<rustls::ClientConfig>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(from.parse().unwrap(), 0).into()).unwrap();
    socket.connect(&server.tls.into()).unwrap();
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn = rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// One request of a call from the carrier at `local` to `number`.
fn sip_request(local: SocketAddr, call_id: &str, number: &str, method: &str, cseq: u32, to_tag: &str) -> String {
    let body = if method == "INVITE" {
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
    } else {
        ""
    };
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:{number}@localhost SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bK{call_id}{cseq}{method};rport\r\n\
         From: <sip:+14155550100@carrier.example>;tag=tlsfrom\r\nTo: <sip:{number}@localhost>{to_tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:carrier@{local};transport=tls>\r\n\
         Max-Forwards: 70\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The `;tag=...` of a response's To header.
fn to_tag(response: &str) -> String {
    let tag = response
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split(";tag=").nth(1))
        .unwrap()
        .trim();
    format!(";tag={tag}")
}

/// Handshake with the server; the certificate it presented.
fn handshake(server: &Server, config: &Arc<rustls::ClientConfig>) -> Result<Vec<u8>, String> {
    let tcp = TcpStream::connect(server.tls).map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
    let mut tcp = tcp;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    Ok(conn.peer_certificates().unwrap()[0].to_vec())
}

/// Write a file whole (rename), so the listener never reads half of it.
fn replace(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_certificate_swapped_under_a_live_listener_fails_no_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = certificate();
    let (cert_b, key_b) = certificate();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    replace(&cert, &cert_a);
    replace(&key, &key_a);
    // The harness's config ends in its [tls] section: these keys continue it.
    let server = Server::start(&format!(
        "cert_path = \"{}\"\nkey_path = \"{}\"\n",
        cert.display(),
        key.display()
    ));
    let trusting_both = client(&[&cert_a, &cert_b]);
    assert_eq!(handshake(&server, &trusting_both).unwrap(), der(&cert_a).to_vec());
    let stop = Arc::new(AtomicBool::new(false));
    let (server_tls, flag) = (server.tls, stop.clone());
    let config = trusting_both.clone();
    let probe = std::thread::spawn(move || {
        let (mut ok, mut failed) = (0, Vec::new());
        while !flag.load(Ordering::Acquire) {
            let tcp = TcpStream::connect(server_tls).unwrap();
            let mut conn =
                rustls::ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap()).unwrap();
            let mut tcp = tcp;
            let mut result = Ok(());
            while conn.is_handshaking() && result.is_ok() {
                result = conn.complete_io(&mut tcp).map(drop);
            }
            match result {
                Ok(()) => ok += 1,
                Err(e) => failed.push(e.to_string()),
            }
        }
        (ok, failed)
    });
    std::thread::sleep(Duration::from_millis(500));
    // Key first, then the certificate whose change the listener watches.
    replace(&key, &key_b);
    replace(&cert, &cert_b);
    let deadline = Instant::now() + Duration::from_secs(10);
    while handshake(&server, &trusting_both).unwrap() != der(&cert_b).to_vec() {
        assert!(Instant::now() < deadline, "the new certificate was never served");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Release);
    let (ok, failed) = probe.join().unwrap();
    assert!(ok > 10, "{ok} handshakes");
    assert!(
        failed.is_empty(),
        "{} of {} handshakes failed: {failed:?}",
        failed.len(),
        ok + failed.len()
    );
    // Trusting only the old certificate no longer works: it really changed.
    assert!(handshake(&server, &client(&[&cert_a])).is_err());
}

#[test]
fn a_call_over_tls_completes() {
    let agent_port = common::free_port();
    let server = Server::start(&format!("[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\n"));
    let cert = std::fs::read_to_string(server.dir.path().join("tls/dev-cert.pem")).unwrap();
    let agent = Agent::start("agent-answer.xml", agent_port, 1);
    let mut tls = connect_from("127.0.0.1", &server, client(&[&cert]));
    let local = tls.sock.local_addr().unwrap();
    let request =
        |method: &str, cseq: u32, to_tag: &str| sip_request(local, "tls-call-1", "+15551234567", method, cseq, to_tag);
    tls.write_all(request("INVITE", 1, "").as_bytes()).unwrap();
    let answer = read_until_final(&mut tls);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    let tag = to_tag(&answer);
    tls.write_all(request("ACK", 1, &tag).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    tls.write_all(request("BYE", 2, &tag).as_bytes()).unwrap();
    let bye = read_until_final(&mut tls);
    assert!(bye.starts_with("SIP/2.0 200") && bye.contains("CSeq: 2 BYE"), "{bye}");
    agent.finish(&server);
}

const PINNED_NUMBER: &str = "+15550002222";

/// A server whose LiveKit range is not loopback, with a trunk that lists no address and
/// pins `pinned`'s certificate, holding PINNED_NUMBER for the demo agent; the agent's port.
fn server_with_pinned_trunk(pinned: &(String, String)) -> (Server, u16) {
    let agent_port = common::free_port();
    let server = Server::start(&format!(
        "[security]\nlivekit_sources = [\"10.255.255.0/24\"]\n[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\n"
    ));
    let key = common::demo_api_key(&server);
    let fingerprint = hex_sha256(&der(&pinned.0));
    // As `openssl x509 -fingerprint -sha256` prints it: upper case, colon pairs.
    let typed: Vec<String> = fingerprint
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8(p.to_ascii_uppercase()).unwrap())
        .collect();
    let trunk = |fingerprints: serde_json::Value| {
        common::api_send(
            &server,
            &key,
            "POST",
            "/core/trunks",
            Some(
                serde_json::json!({"name": "TLS carrier", "inbound_config": {"tls_client_fingerprints": fingerprints},
                "outbound_config": {"address": "127.0.0.9:5061", "auth_username": "t", "auth_password": "pw-t"}}),
            ),
        )
    };
    let (status, body) = trunk(serde_json::json!(["ab:cd"]));
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("inbound_config.tls_client_fingerprints")),
        "{body}"
    );
    let (status, body) = trunk(serde_json::json!([typed.join(":")]));
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["inbound_config"]["tls_client_fingerprints"],
        serde_json::json!([fingerprint])
    );
    let trunk_id = body["id"].as_str().unwrap();
    let (status, body) = common::api_send(
        &server,
        &key,
        "POST",
        "/core/phone-numbers",
        Some(serde_json::json!({"phone_number": PINNED_NUMBER, "trunk_id": trunk_id})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = common::api_send(
        &server,
        &key,
        "POST",
        "/core/agents/0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11/versions/1/publish",
        Some(serde_json::json!({"phone_numbers": [PINNED_NUMBER], "direction": "inbound"})),
    );
    assert_eq!(status, 200, "{body}");
    (server, agent_port)
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn metrics(server: &Server) -> String {
    reqwest::blocking::get(format!("http://{}/metrics", server.http))
        .unwrap()
        .text()
        .unwrap()
}

/// An INVITE for PINNED_NUMBER from 127.0.0.7 presenting `identity`; the final answer
/// without its Via line (which names the sender's port).
fn invite_presenting(server: &Server, identity: Option<&(String, String)>, call_id: &str) -> String {
    let cert = std::fs::read_to_string(server.dir.path().join("tls/dev-cert.pem")).unwrap();
    let mut tls = connect_from("127.0.0.7", server, client_presenting(&[&cert], identity));
    let local = tls.sock.local_addr().unwrap();
    let request = sip_request(local, call_id, PINNED_NUMBER, "INVITE", 1, "");
    tls.write_all(request.as_bytes()).unwrap();
    let answer = read_until_final(&mut tls);
    answer
        .lines()
        .filter(|l| !l.starts_with("Via:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_trunk_pinning_a_client_certificate_takes_calls_only_from_its_holder() {
    let pinned = certificate();
    let (server, agent_port) = server_with_pinned_trunk(&pinned);
    let before = metrics(&server);
    let without = invite_presenting(&server, None, "pin-check");
    assert!(without.starts_with("SIP/2.0 403"), "no certificate: {without}");
    let other = certificate();
    let with_other = invite_presenting(&server, Some(&other), "pin-check");
    assert_eq!(
        with_other, without,
        "another certificate gets the stranger's very answer"
    );
    let after = metrics(&server);
    let moved = |series: &str| common::sample(&after, series) - common::sample(&before, series);
    assert_eq!(
        moved("switchboard_sip_refused_total{reason=\"client_certificate\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        moved("switchboard_sip_refused_total{reason=\"unknown_source\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        moved("switchboard_sip_requests_sent_total{method=\"INVITE\",transport=\"udp\"}"),
        0.0,
        "no agent leg for a refused call"
    );

    let agent = Agent::start("agent-answer.xml", agent_port, 1);
    let cert = std::fs::read_to_string(server.dir.path().join("tls/dev-cert.pem")).unwrap();
    let mut tls = connect_from("127.0.0.7", &server, client_presenting(&[&cert], Some(&pinned)));
    let local = tls.sock.local_addr().unwrap();
    let request =
        |method: &str, cseq: u32, to_tag: &str| sip_request(local, "pinned-call", PINNED_NUMBER, method, cseq, to_tag);
    tls.write_all(request("INVITE", 1, "").as_bytes()).unwrap();
    let answer = read_until_final(&mut tls);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}\n{}", server.log_text());
    let tag = to_tag(&answer);
    tls.write_all(request("ACK", 1, &tag).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    tls.write_all(request("BYE", 2, &tag).as_bytes()).unwrap();
    let bye = read_until_final(&mut tls);
    assert!(bye.starts_with("SIP/2.0 200") && bye.contains("CSeq: 2 BYE"), "{bye}");
    agent.finish(&server);
}

#[test]
fn a_client_without_a_certificate_still_handshakes_and_gets_options_answered() {
    let (server, _) = server_with_pinned_trunk(&certificate());
    let cert = std::fs::read_to_string(server.dir.path().join("tls/dev-cert.pem")).unwrap();
    // 127.0.0.1 is the demo trunk's carrier, which pins no certificate.
    let mut tls = connect_from("127.0.0.1", &server, client(&[&cert]));
    let local = tls.sock.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:ping@localhost SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKopt1;rport\r\n\
         From: <sip:probe@carrier.example>;tag=p1\r\nTo: <sip:ping@localhost>\r\nCall-ID: tls-options\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    tls.write_all(options.as_bytes()).unwrap();
    let answer = read_until_final(&mut tls);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert!(tls.conn.peer_certificates().is_some(), "the handshake completed");
}

/// Read framed SIP messages until a final response; returns it.
fn read_until_final<S: Read>(stream: &mut S) -> String {
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("the connection closed; read so far: {head}");
            }
            if line == "\r\n" && !head.is_empty() {
                break;
            }
            if line != "\r\n" {
                head.push_str(&line);
            }
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length:").or_else(|| l.strip_prefix("l:")))
            .map_or(0, |v| v.trim().parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        if !head.starts_with("SIP/2.0 1") {
            return head;
        }
    }
}
