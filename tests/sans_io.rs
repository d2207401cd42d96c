//! The sans-IO rule, checked on the source: the call core (`src/b2bua`, `src/transaction`,
//! `src/routing`, and the SIP model `src/sip`) takes `now`, messages and lookups and
//! returns outputs. It never reads a clock, opens a socket, resolves a host name or
//! touches tokio; the shell (`src/server`, `src/transport`, `src/resolve`) does. Test code
//! (files named for tests, and everything after a `#[cfg(test)]`) may.

use std::path::{Path, PathBuf};

/// The folders of the core.
const CORE: [&str; 4] = ["src/b2bua", "src/transaction", "src/routing", "src/sip"];

/// What the core must not call, and why.
const FORBIDDEN: [(&str, &str); 12] = [
    ("Instant::now", "reads the clock"),
    ("SystemTime::now", "reads the clock"),
    ("clock::now", "reads the clock"),
    ("OffsetDateTime::now", "reads the clock"),
    ("Timestamp::now", "reads the clock"),
    ("to_socket_addrs", "resolves a host name (blocking DNS)"),
    ("lookup_host", "resolves a host name"),
    ("UdpSocket", "opens a socket"),
    ("TcpStream", "opens a socket"),
    ("TcpListener", "opens a socket"),
    ("tokio::", "runs on the shell's runtime"),
    ("thread::sleep", "waits"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file only tests compile: named for tests, or inside a tests folder.
fn is_test_file(path: &Path) -> bool {
    path.components()
        .any(|c| c.as_os_str().to_string_lossy().contains("tests"))
}

/// Each forbidden call in the core's non-test code: (file, line number, the call).
fn violations(root: &Path) -> Vec<(String, usize, &'static str, &'static str)> {
    let mut files = Vec::new();
    for dir in CORE {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "the core's files were found ({})", files.len());
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !is_test_file(f.strip_prefix(root).unwrap())) {
        let text = std::fs::read_to_string(file).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or_default();
            for (call, why) in FORBIDDEN {
                if code.contains(call) {
                    let name = file.strip_prefix(root).unwrap().display().to_string();
                    found.push((name, i + 1, call, why));
                }
            }
        }
    }
    found
}

#[test]
fn the_call_core_reads_no_clock_opens_no_socket_and_resolves_no_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = violations(root);
    let report: Vec<String> = found
        .iter()
        .map(|(file, line, call, why)| format!("{file}:{line}: `{call}` {why}"))
        .collect();
    assert!(
        found.is_empty(),
        "the sans-IO core must be handed time and lookups by the shell:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_check_finds_a_clock_read_where_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    for core in CORE {
        std::fs::create_dir_all(dir.path().join(core)).unwrap();
        for i in 0..15 {
            std::fs::write(dir.path().join(core).join(format!("f{i}.rs")), "fn f() {}\n").unwrap();
        }
    }
    let bad = "fn f() {\n    let t = std::time::Instant::now(); // no\n}\n#[cfg(test)]\nmod tests { fn g() { std::time::Instant::now(); } }\n";
    std::fs::write(dir.path().join("src/routing/bad.rs"), bad).unwrap();
    std::fs::write(dir.path().join("src/routing/bad_tests.rs"), bad).unwrap();
    let found = violations(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].1), ("src/routing/bad.rs", 2));
}
