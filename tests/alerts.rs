//! The shipped Prometheus alert rules (`config/alerts.yml`) load, fire when they should and
//! stay quiet when they should not (`promtool test rules config/alerts.test.yml`), and
//! name only metrics switchboard exports.

mod common;

use std::process::Command;

fn promtool(args: &[&str]) {
    let promtool = common::require_tool("promtool", "prometheus");
    let out = Command::new(promtool)
        .args(args)
        .current_dir(common::repo().join("config"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_pass_their_unit_tests() {
    promtool(&["check", "rules", "alerts.yml"]);
    promtool(&["test", "rules", "alerts.test.yml"]);
}

#[test]
fn alert_rules_and_the_dashboard_name_exported_metrics() {
    let exported: Vec<String> = switchboard::metrics::names()
        .map(|n| switchboard::metrics::exported(n).into_owned())
        .collect();
    for file in ["alerts.yml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(common::repo().join("config").join(file)).unwrap();
        let mut named = 0;
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if let Some(name) = word.strip_prefix("switchboard_") {
                if name.is_empty() || name == "build_info" {
                    continue;
                }
                let base = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s))
                    .unwrap_or(word);
                assert!(
                    exported.iter().any(|e| e == base || e == word),
                    "{file}: {word} is not exported"
                );
                named += 1;
            }
        }
        assert!(named > 0, "{file} names no metric");
    }
}
