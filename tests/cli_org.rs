//! `switchboard org create` and `org set-livekit-host` on the configured store: the printed
//! key acts for the new org (and only it) once a server loads the store.

mod common;

use std::path::Path;
use std::process::Command;

fn switchboard(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn field<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name} in {stdout}"))
}

#[test]
fn org_create_prints_a_key_that_acts_for_the_new_org() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let overlay = format!("[store]\npath = \"{}\"\n", store.display());
    let config = dir.path().join("cli.toml");
    std::fs::write(&config, &overlay).unwrap();

    let (ok, stdout, stderr) = switchboard(&config, &["org", "create", "Acme Voice"]);
    assert!(ok, "{stderr}");
    let org = field(&stdout, "org_id").to_owned();
    let key = field(&stdout, "api_key").to_owned();
    assert!(org.starts_with("org_") && key.starts_with("ak_"), "{stdout}");

    let (ok, stdout, stderr) = switchboard(
        &config,
        &[
            "org",
            "set-livekit-host",
            &org,
            "acme.sip.livekit.example;transport=tls",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("acme.sip.livekit.example;transport=tls"), "{stdout}");
    let (ok, _, stderr) = switchboard(&config, &["org", "set-livekit-host", "org_nobody", "h.example"]);
    assert!(!ok && stderr.contains("org_nobody"), "{stderr}");
    let (ok, _, stderr) = switchboard(&config, &["org", "set-livekit-host", &org, "h;transport=pigeon"]);
    assert!(!ok && stderr.contains("transport"), "{stderr}");
    let (ok, _, stderr) = switchboard(&config, &["org", "create", " "]);
    assert!(!ok && stderr.contains("name"), "{stderr}");

    // The store already has an org: no demo seed, and the printed key is the way in.
    let server = common::Server::start(&overlay);
    let (status, body) = common::api_get(&server, &key, "/core/trunks");
    assert_eq!(status, 200, "{body}");
    let trunks: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(trunks["data"], serde_json::json!([]), "a new org starts empty");
    let (status, _) = common::api_get(&server, &key, "/core/api-keys");
    assert_eq!(status, 200);
    assert!(!dir.path().join("demo-api-key").exists());
}

/// A newcomer who starts a second `serve` (or has something on 8080) is told which address
/// is taken.
#[test]
fn serve_names_the_address_it_cannot_bind() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http = taken.local_addr().unwrap();
    let (sip, tls) = (common::free_port(), common::free_port());
    let config = dir.path().join("busy.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nudp_listen = \"127.0.0.1:{sip}\"\ntcp_listen = \"127.0.0.1:{sip}\"\ntls_listen = \"127.0.0.1:{tls}\"\n\
             [api]\nlisten = \"{http}\"\n[tls]\ndev_cert_dir = \"{}\"\n[store]\npath = \"{}\"\n",
            dir.path().join("tls").display(),
            dir.path().join("s.db").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve kept running on a taken address");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("HTTP {http}")), "{stderr}");
    drop(taken);
}
