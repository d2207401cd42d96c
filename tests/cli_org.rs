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
