//! Every RFC 4475 torture message, sent over UDP to a live `switchboard serve`, gets the
//! answer INDEX.tsv names: the status it lists for `reject`, anything but 400 for `valid`,
//! 400 or a non-400 answer for `liberal`, and silence for `response`. The top Via is
//! rewritten to this test's loopback socket, so no answer can leave the machine.

mod common;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::Duration;

struct Vector {
    name: String,
    expect: String,
    note: String,
    bytes: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let dir = vectors_dir();
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).expect("reading rfc4475/INDEX.tsv");
    index
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Vector {
                name: cols[0].to_owned(),
                expect: cols[2].to_owned(),
                note: cols[3].to_owned(),
                bytes: std::fs::read(dir.join(format!("{}.dat", cols[0]))).expect("reading a vector"),
            }
        })
        .collect()
}

fn vectors_dir() -> PathBuf {
    common::repo().join("../shared/vectors/rfc4475")
}

/// Replace the sent-by of the first Via header with `sent_by`.
fn rewrite_top_via(message: &[u8], sent_by: &str) -> Vec<u8> {
    let text = message;
    let mut line_start = 0;
    while line_start < text.len() {
        let line_end = find(&text[line_start..], b"\n").map_or(text.len(), |i| line_start + i);
        let line = &text[line_start..line_end];
        if line.iter().all(|b| b.is_ascii_whitespace()) && line_start > 0 {
            break; // end of headers
        }
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let name = std::str::from_utf8(&line[..colon])
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if name == "via" || name == "v" {
                let value_start = line_start + colon + 1;
                if let Some(rewritten) = replace_sent_by(text, value_start, sent_by) {
                    return rewritten;
                }
            }
        }
        line_start = line_end + 1;
    }
    message.to_vec()
}

fn replace_sent_by(text: &[u8], value_start: usize, sent_by: &str) -> Option<Vec<u8>> {
    // Past "SIP / 2.0 / TRANSPORT" (slashes may be surrounded by LWS, even folded lines).
    let mut i = value_start;
    let mut slashes = 0;
    while slashes < 2 {
        if text.get(i)? == &b'/' {
            slashes += 1;
        }
        i += 1;
    }
    while text.get(i)?.is_ascii_whitespace() {
        i += 1;
    }
    while text.get(i)?.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(text.get(i)?) {
        i += 1; // the transport token
    }
    while text.get(i)?.is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    while !b";, \t\r\n".contains(text.get(i)?) {
        i += 1;
    }
    let mut out = text[..start].to_vec();
    out.extend_from_slice(sent_by.as_bytes());
    out.extend_from_slice(&text[i..]);
    Some(out)
}

/// The value of the first header named one of `names` (case-insensitive), trimmed.
fn header_value(message: &[u8], names: &[&str]) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let headers = text.split("\r\n\r\n").next().unwrap_or("");
    headers.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        names
            .iter()
            .any(|n| name.trim().eq_ignore_ascii_case(n))
            .then(|| value.trim().to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn status_of(response: &[u8]) -> Option<u16> {
    let line = response.strip_prefix(b"SIP/2.0 ")?;
    std::str::from_utf8(line.get(..3)?).ok()?.parse().ok()
}

/// The status each `reject` vector must get.
fn required_status(name: &str) -> u16 {
    match name {
        "badvers" => 505,
        "unkscm" | "novelsc" => 416,
        "bext01" => 420,
        _ => 400,
    }
}

#[test]
fn every_rfc4475_vector_gets_the_answer_the_rfc_expects_from_a_live_server() {
    let server = common::Server::start("");
    let mut failures = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for v in vectors() {
        // A socket per vector: many vectors share a branch, and the same branch from the
        // same sent-by is one transaction (RFC 3261 §17.2.3).
        socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
        let sent_by = socket.local_addr().unwrap().to_string();
        let message = rewrite_top_via(&v.bytes, &sent_by);
        socket.send_to(&message, server.sip).unwrap();
        // Collect every answer for this vector (a provisional may precede the final one).
        // Only answers to this vector count: a final to an earlier INVITE is retransmitted
        // until ACKed (RFC 3261 §17.2.1) and may arrive now.
        let call_id = header_value(&v.bytes, &["call-id", "i"]);
        let mut statuses = Vec::new();
        while let Ok((n, _)) = socket.recv_from(&mut buf) {
            if header_value(&buf[..n], &["call-id", "i"]) != call_id {
                continue;
            }
            statuses.push(status_of(&buf[..n]).unwrap_or(0));
            if statuses.last().is_some_and(|s| *s >= 200) {
                break;
            }
        }
        let last = statuses.last().copied();
        let ok = match v.expect.as_str() {
            "response" => statuses.is_empty(),
            "reject" if v.name == "mismatch02" => matches!(last, Some(400 | 501)),
            "reject" => last == Some(required_status(&v.name)),
            "valid" => last.is_some_and(|s| s >= 200 && s != 400),
            "liberal" => last.is_some_and(|s| s >= 200),
            other => panic!("unknown expectation {other} for {}", v.name),
        };
        if !ok {
            failures.push(format!("{} ({}: {}): got {:?}", v.name, v.expect, v.note, statuses));
        }
    }
    // The server must still be alive and answering after all of them.
    let probe = common::options_request(socket.local_addr().unwrap(), "after-vectors");
    socket.send_to(probe.as_bytes(), server.sip).unwrap();
    let (n, _) = socket
        .recv_from(&mut buf)
        .expect("server still answers after the torture vectors");
    assert_eq!(status_of(&buf[..n]), Some(200));
    assert!(
        failures.is_empty(),
        "vectors answered wrongly:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_via_rewrite_changes_only_the_sent_by() {
    let folded = b"INVITE sip:a@b SIP/2.0\r\nVia  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=x\r\n\r\n";
    let out = rewrite_top_via(folded, "127.0.0.1:9");
    assert_eq!(
        out,
        b"INVITE sip:a@b SIP/2.0\r\nVia  : SIP  /   2.0\r\n /UDP\r\n    127.0.0.1:9;branch=x\r\n\r\n".to_vec()
    );
}
