//! A second `serve` never shares what must not be shared (issue 17): not the first one's
//! UDP SIP address (SO_REUSEPORT would let the kernel split the carriers' datagrams
//! between the two), not its SQLite data directory (neither would see the other's
//! writes). It stops at once, non-zero, naming the address or the directory, and the
//! first server goes on answering.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, options_request, Server};

/// Run `serve` with `config` (in `cwd`) and wait for it to stop, at most 20 s.
fn second_serve(cwd: &Path, config: &str) -> Output {
    let path = cwd.join("second.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config"])
        .arg(&path)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the second serve kept running; it shares silently:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Whether `server` still answers OPTIONS over UDP, ten times out of ten (a shared port
/// would lose about half of them to the other process).
fn answers_every_time(server: &Server) -> bool {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 4096];
    (0..10).all(|i| {
        let ping = options_request(socket.local_addr().unwrap(), &format!("still-{i}"));
        socket.send_to(ping.as_bytes(), server.sip).unwrap();
        matches!(socket.recv_from(&mut buf), Ok((n, _)) if buf[..n].starts_with(b"SIP/2.0 200"))
    })
}

fn listeners(udp: u16, tcp: u16, tls: u16, http: u16, tls_dir: &Path) -> String {
    format!(
        "[sip]\nudp_listen = \"127.0.0.1:{udp}\"\ntcp_listen = \"127.0.0.1:{tcp}\"\ntls_listen = \"127.0.0.1:{tls}\"\n\
         [api]\nlisten = \"127.0.0.1:{http}\"\n[tls]\ndev_cert_dir = \"{}\"\n",
        tls_dir.display()
    )
}

#[test]
fn a_second_serve_on_the_same_udp_address_stops_and_names_it() {
    let first = Server::start("");
    let other = tempfile::tempdir().unwrap();
    // Its own TCP, TLS and HTTP ports and its own data directory: only UDP is shared.
    let config = listeners(
        first.sip.port(),
        free_port(),
        free_port(),
        free_port(),
        &other.path().join("tls"),
    );
    let out = second_serve(other.path(), &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("UDP {}", first.sip)), "{stderr}");
    assert!(stderr.contains("another process holds this SIP address"), "{stderr}");
    assert!(answers_every_time(&first), "the first server lost datagrams");
}

#[test]
fn a_second_serve_on_the_same_data_directory_stops_and_names_it() {
    let first = Server::start("");
    let data = first.dir.path().join("data");
    assert!(data.join("switchboard.db").exists());
    let other = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[store]\npath = \"{}\"\n",
        listeners(
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            &other.path().join("tls")
        ),
        data.join("switchboard.db").display()
    );
    let out = second_serve(other.path(), &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("data directory {} is in use", data.display())),
        "{stderr}"
    );
    assert!(answers_every_time(&first));
}

#[test]
fn a_data_directory_is_free_again_once_its_server_is_killed() {
    let mut server = Server::start("");
    // SIGKILL leaves the lock file behind but not the lock: the restart takes it.
    server.kill_and_restart();
    assert!(server.dir.path().join("data/switchboard.lock").exists());
    assert!(answers_every_time(&server));
}
