//! The harness every integration test shares: start a real `switchboard serve` on free
//! loopback ports, wait until it answers, stop it when the test ends; and tool checks that
//! fail loudly, naming the package to install, instead of skipping.
#![allow(dead_code)]

pub mod api;
pub mod dns;
pub mod outbound;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running switchboard process.
pub struct Server {
    pub child: Child,
    config_path: PathBuf,
    pub sip: SocketAddr,
    pub tls: SocketAddr,
    /// The HTTP listener (/metrics, /healthz, /readyz).
    pub http: SocketAddr,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    /// The RUST_LOG the process runs with.
    filter: String,
    /// The `cgroup.procs` of the memory group the process starts in, if any.
    cgroup: Option<PathBuf>,
}

impl Server {
    /// Start with the embedded defaults, loopback ports and `extra` TOML overlaid.
    pub fn start(extra: &str) -> Server {
        let filter = std::env::var("SWITCHBOARD_TEST_LOG").unwrap_or_else(|_| "info".into());
        Server::start_logging(extra, &filter)
    }

    /// Start with this RUST_LOG filter (e.g. "trace"). Should another process take one of
    /// the chosen ports between the check and the server's bind, start again on new ports.
    pub fn start_logging(extra: &str, filter: &str) -> Server {
        Server::start_with(extra, filter, None)
    }

    /// Start inside the cgroup whose `cgroup.procs` file is `procs`: the process joins it
    /// before it runs, so everything it (and every child of it) allocates counts there.
    pub fn start_in_cgroup(extra: &str, procs: &Path) -> Server {
        let filter = std::env::var("SWITCHBOARD_TEST_LOG").unwrap_or_else(|_| "info".into());
        Server::start_with(extra, &filter, Some(procs))
    }

    fn start_with(extra: &str, filter: &str, cgroup: Option<&Path>) -> Server {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Server::try_start(extra, filter, cgroup) {
                Ok(server) => return server,
                Err(log) if attempts < 3 && log.contains("Address already in use") => continue,
                Err(log) => panic!("switchboard did not answer OPTIONS within 20 s; log:\n{log}"),
            }
        }
    }

    fn try_start(extra: &str, filter: &str, cgroup: Option<&Path>) -> Result<Server, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let tls_port = free_port();
        let http_port = free_port();
        let config = format!(
            // Four call-core shards whatever the machine's CPUs: a message that reached a
            // shard not holding its call would fail the suites.
            "[sip]\nudp_listen = \"127.0.0.1:{port}\"\ntcp_listen = \"127.0.0.1:{port}\"\ntls_listen = \"127.0.0.1:{tls_port}\"\nshards = 4\n\
             [api]\nlisten = \"127.0.0.1:{http_port}\"\n[tls]\ndev_cert_dir = \"{}\"\n{extra}",
            dir.path().join("tls").display()
        );
        let config_path = dir.path().join("switchboard.toml");
        std::fs::write(&config_path, config).expect("writing the test config");
        let log = dir.path().join("switchboard.log");
        let child = spawn(&config_path, dir.path(), &log, filter, cgroup);
        let mut server = Server {
            child,
            config_path,
            sip: SocketAddr::from(([127, 0, 0, 1], port)),
            tls: SocketAddr::from(([127, 0, 0, 1], tls_port)),
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
            dir,
            log,
            filter: filter.to_owned(),
            cgroup: cgroup.map(Path::to_owned),
        };
        server.answering()?;
        Ok(server)
    }

    /// Wait until the server answers OPTIONS; its log if it exits or stays silent for 20 s.
    fn answering(&mut self) -> Result<(), String> {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            let ping = options_request(socket.local_addr().unwrap(), "ready-check");
            socket.send_to(ping.as_bytes(), self.sip).unwrap();
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                // The HTTP listener comes up just after the SIP ones: wait for it too.
                if buf[..n].starts_with(b"SIP/2.0 200") && self.http_answers(deadline) {
                    return Ok(());
                }
            }
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
        }
        Err(self.log_text())
    }

    /// Whether the HTTP listener (every test server has one) accepts a connection before
    /// `deadline`.
    fn http_answers(&mut self, deadline: Instant) -> bool {
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&self.http, Duration::from_millis(100)).is_ok() {
                return true;
            }
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// SIGKILL the process (no chance to flush anything) and start it again on the same
    /// data folder and ports.
    pub fn kill_and_restart(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
        self.child = spawn(
            &self.config_path,
            self.dir.path(),
            &self.log,
            &self.filter,
            self.cgroup.as_deref(),
        );
        if let Err(log) = self.answering() {
            panic!("switchboard did not answer OPTIONS within 20 s after a restart; log:\n{log}");
        }
    }

    /// What the server printed on standard output (the demo API key at first start).
    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(config_path: &Path, dir: &Path, log: &Path, filter: &str, cgroup: Option<&Path>) -> Child {
    let stdout = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stdout.log"))
        .unwrap();
    let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .arg("serve")
        .arg("--config")
        .arg(config_path)
        .current_dir(dir)
        .env("RUST_LOG", filter)
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    if let Some(procs) = cgroup {
        join_cgroup_at_exec(&mut command, procs);
    }
    command.spawn().expect("spawning switchboard")
}

/// Between fork and exec the child writes "0" (itself, in cgroup v1) to `procs`: only
/// async-signal-safe calls there, on a path prepared before the fork.
fn join_cgroup_at_exec(command: &mut Command, procs: &Path) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    let path = std::ffi::CString::new(procs.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: open/write/close are async-signal-safe; nothing here allocates or locks.
    unsafe {
        command.pre_exec(move || {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let written = libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
            match written {
                1 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
}

/// An OPTIONS request from `from`, with rport so the answer comes back to this socket.
pub fn options_request(from: SocketAddr, call_id: &str) -> String {
    format!(
        "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{call_id};rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A loopback port free for both UDP and TCP right now, from below the kernel's ephemeral
/// range (32768-60999 by default) so that no socket bound to port 0 can take it before the
/// test binds it; each call in a test binary tries the next port, from a start that
/// depends on the process id.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(2_654_435_761) % COUNT,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    loop {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % COUNT) as u16;
        let tcp = TcpListener::bind(("127.0.0.1", port));
        if tcp.is_ok() && UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The path of a required external tool, or a panic that says how to install it.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("`{tool}` is required for this test: install it with `apt-get install {package}` (scripts/test.sh does)")
    })
}

/// The repository's root folder.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Run SIPp to completion with a time bound; returns (exit code, stdout+stderr).
pub fn run_sipp(args: &[&str], limit: Duration) -> (i32, String) {
    let sipp = require_tool("sipp", "sip-tester");
    let out_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(sipp)
        .args(args)
        .args(["-nostdin", "-trace_err"])
        .current_dir(out_dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning sipp");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            for entry in std::fs::read_dir(out_dir.path()).unwrap().flatten() {
                if entry.file_name().to_string_lossy().ends_with("errors.log") {
                    text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
                }
            }
            return (status.code().unwrap_or(-1), text);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sipp {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn write_file(path: &Path, text: &str) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap();
}

/// A fixture scenario's path.
pub fn scenario(name: &str) -> String {
    repo().join("fixtures/sipp").join(name).to_string_lossy().into_owned()
}

/// A carrier scenario that expects the final `status`, written into `dir`.
pub fn expect_failure(status: u16, dir: &Path) -> String {
    let template = std::fs::read_to_string(scenario("carrier-expect-failure.xml.in")).unwrap();
    let path = dir.join(format!("carrier-expect-{status}.xml"));
    std::fs::write(&path, template.replace("STATUS", &status.to_string())).unwrap();
    path.to_string_lossy().into_owned()
}

/// `child`'s exit status once it ends within `limit`; past it, `None` and the child killed.
pub fn wait_or_kill(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIPp playing the LiveKit agent on `port` for `calls` calls.
pub struct Agent {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Agent {
    pub fn start(scenario_name: &str, port: u16, calls: usize) -> Agent {
        Agent::start_at(scenario_name, "127.0.0.1", port, calls, "u1")
    }

    /// The agent on its own loopback address `ip`, over `transport` (SIPp's `-t`: u1, t1).
    pub fn start_at(scenario_name: &str, ip: &str, port: u16, calls: usize, transport: &str) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(require_tool("sipp", "sip-tester"))
            .args(["-sf", &scenario(scenario_name), "-i", ip, "-t", transport, "-p"])
            .arg(port.to_string())
            .args(["-m", &calls.to_string(), "-nostdin", "-trace_err"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning the SIPp agent");
        std::thread::sleep(Duration::from_millis(300));
        Agent {
            child: Some(child),
            dir,
        }
    }

    /// Wait for the agent to finish its calls; panics with its error log if it failed.
    pub fn finish(mut self, server: &Server) {
        let mut child = self.child.take().unwrap();
        let status = wait_or_kill(&mut child, Duration::from_secs(20)).unwrap_or_else(|| {
            panic!(
                "the SIPp agent did not finish its calls; server log:\n{}",
                server.log_text()
            )
        });
        let errors: String = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("errors.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        assert!(status.success(), "the SIPp agent failed ({status}):\n{errors}");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// SIPp as the carrier: `calls` calls of `scenario_path` to `dialed`, at `rate` per
/// second; panics with SIPp's and the server's output unless every call completed.
pub fn carrier(server: &Server, scenario_path: &str, dialed: &str, calls: usize, rate: usize) {
    let target = server.sip.to_string();
    let local_port = free_port().to_string();
    let (calls, rate) = (calls.to_string(), rate.to_string());
    let (code, output) = run_sipp(
        &[
            "-sf",
            scenario_path,
            "-t",
            "u1",
            "-s",
            dialed,
            "-i",
            "127.0.0.1",
            "-p",
            &local_port,
            "-m",
            &calls,
            "-r",
            &rate,
            "-timeout",
            "60s",
            "-timeout_error",
            &target,
        ],
        Duration::from_secs(90),
    );
    assert_eq!(
        code,
        0,
        "carrier SIPp ({scenario_path}) failed:\n{output}\nserver log:\n{}",
        server.log_text()
    );
}

/// The demo org's API key: first start writes it to a 0600 file and prints the path.
pub fn demo_api_key(server: &Server) -> String {
    let text = server.stdout_text();
    let path = text
        .split_once("API key is in ")
        .and_then(|(_, rest)| rest.split(" (mode 0600)").next())
        .unwrap_or_else(|| panic!("no demo key file named in the server's output: {text}"));
    let path = server.dir.path().join(path);
    let key = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!text.contains(key.trim()), "the key itself is printed: {text}");
    key.trim().to_owned()
}

/// GET a path of the HTTP listener with an API key; (status, body).
pub fn api_get(server: &Server, key: &str, path: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .get(format!("http://{}{path}", server.http))
        .bearer_auth(key)
        .send()
        .expect("HTTP GET");
    (response.status().as_u16(), response.text().unwrap())
}

/// The value of one sample line of a Prometheus exposition, by exact name and labels.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Any API request with a JSON body; (status, JSON body or Null).
pub fn api_send(
    server: &Server,
    key: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::blocking::Client::new()
        .request(method.parse().unwrap(), format!("http://{}{path}", server.http))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("HTTP request");
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

/// A new agent of the demo org with version 1 published; its id.
pub fn published_agent(server: &Server, key: &str, name: &str) -> String {
    let (status, agent) = api_send(
        server,
        key,
        "POST",
        "/core/agents",
        Some(serde_json::json!({ "name": name })),
    );
    assert_eq!(status, 201, "{agent}");
    let id = agent["id"].as_str().unwrap().to_owned();
    let (status, body) = api_send(server, key, "POST", &format!("/core/agents/{id}/versions"), None);
    assert_eq!(status, 201, "{body}");
    let (status, body) = api_send(
        server,
        key,
        "POST",
        &format!("/core/agents/{id}/versions/1/publish"),
        Some(serde_json::json!({})),
    );
    assert_eq!(status, 200, "{body}");
    id
}

/// A server whose LiveKit sources are a range no test sends from, so every test source meets
/// the trunks; `extra` continues the [security] section. Returns the server, the demo key and
/// the agent's port.
pub fn guarded(extra: &str) -> (Server, String, u16) {
    let agent_port = free_port();
    let server = Server::start(&format!(
        "[security]\nlivekit_sources = [\"10.255.255.0/24\"]\n{extra}[routing]\nlivekit_host = \"127.0.0.1:{agent_port}\"\n"
    ));
    let key = demo_api_key(&server);
    (server, key, agent_port)
}

/// The server's /metrics page.
pub fn metrics(server: &Server) -> String {
    reqwest::blocking::get(format!("http://{}/metrics", server.http))
        .unwrap()
        .text()
        .unwrap()
}

/// SIPp running in the background (any role), in a folder of its own for its logs.
pub struct BackgroundSipp {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// How a background SIPp ended: its exit status (None: still running at the deadline, then
/// killed), when it ended, and its error log.
pub struct SippEnd {
    pub status: Option<std::process::ExitStatus>,
    pub at: Instant,
    pub errors: String,
}

impl BackgroundSipp {
    pub fn spawn(args: &[&str]) -> BackgroundSipp {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(require_tool("sipp", "sip-tester"))
            .args(args)
            .args(["-nostdin", "-trace_err"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning sipp");
        BackgroundSipp {
            child: Some(child),
            dir,
        }
    }

    /// Wait for SIPp to exit, until `deadline` at the latest.
    pub fn wait_until(mut self, deadline: Instant) -> SippEnd {
        let mut child = self.child.take().unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let at = Instant::now();
        let errors = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("errors.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        SippEnd { status, at, errors }
    }
}

impl Drop for BackgroundSipp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Send a bodyless INVITE for `number` from 127.0.0.1 (the demo trunk's address) and
/// return its final status, ACKing it so the server's transaction ends at once.
pub fn invite_status(server: &Server, number: &str, call_id: &str) -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let me = socket.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:{number}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:+14155550100@127.0.0.1>;tag=t1\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:carrier@{me}>\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(invite.as_bytes(), server.sip).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = socket.recv_from(&mut buf).expect("a final answer");
        let status: u16 = std::str::from_utf8(&buf[8..11.min(n)]).unwrap().parse().unwrap();
        if status >= 200 {
            // ACK the failure so the transaction ends at once.
            let ack = format!(
                "ACK sip:{number}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id};rport\r\nMax-Forwards: 70\r\n\
                 From: <sip:+14155550100@127.0.0.1>;tag=t1\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
            );
            socket.send_to(ack.as_bytes(), server.sip).unwrap();
            return status;
        }
    }
}
