//! TLS on the SIP edge with rustls: a call over TLS, and a certificate swapped under a live
//! listener with no handshake failing (the new certificate is served from the next
//! handshake on).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
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
    let mut roots = rustls::RootCertStore::empty();
    for pem in trusted {
        roots.add(der(pem)).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
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
    let tcp = TcpStream::connect(server.tls).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let local = tcp.local_addr().unwrap();
    let conn = rustls::ClientConnection::new(client(&[&cert]), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let request = |method: &str, cseq: u32, to_tag: &str| {
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
            "{method} sip:+15551234567@localhost SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKtls{cseq}{method};rport\r\n\
             From: <sip:+14155550100@carrier.example>;tag=tlsfrom\r\nTo: <sip:+15551234567@localhost>{to_tag}\r\n\
             Call-ID: tls-call-1\r\nCSeq: {cseq} {method}\r\nContact: <sip:carrier@{local};transport=tls>\r\n\
             Max-Forwards: 70\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    tls.write_all(request("INVITE", 1, "").as_bytes()).unwrap();
    let answer = read_until_final(&mut tls);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    let to_tag = answer
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split(";tag=").nth(1))
        .unwrap()
        .trim()
        .to_owned();
    let tag = format!(";tag={to_tag}");
    tls.write_all(request("ACK", 1, &tag).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    tls.write_all(request("BYE", 2, &tag).as_bytes()).unwrap();
    let bye = read_until_final(&mut tls);
    assert!(bye.starts_with("SIP/2.0 200") && bye.contains("CSeq: 2 BYE"), "{bye}");
    agent.finish(&server);
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
