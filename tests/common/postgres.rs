//! A throwaway PostgreSQL cluster for a test: `initdb` in a temporary folder (as the
//! `postgres` user when the tests run as root), the server on a private loopback port with
//! its socket in that folder, stopped and removed when dropped. Debian's `postgresql`
//! package provides the binaries under /usr/lib/postgresql/<version>/bin.

use std::path::PathBuf;
use std::process::Command;

/// A running cluster.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Cluster {
    /// initdb and start; panics naming the package when PostgreSQL is missing.
    pub fn start() -> Cluster {
        let bin = binaries();
        let dir = tempfile::Builder::new().prefix("switchboard-pg-").tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if is_root() {
            let (uid, gid) = postgres_ids();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
        }
        let port = crate::common::free_port();
        let cluster = Cluster { bin, dir, port };
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=50",
            cluster.dir.path().display()
        );
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &cluster.dir.path().join("server.log").to_string_lossy(),
                "-o",
                &options,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        cluster
    }

    /// The url of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Run one SQL statement with psql; its output.
    pub fn sql(&self, statement: &str) -> String {
        let socket_dir = self.dir.path().to_string_lossy().into_owned();
        let port = self.port.to_string();
        let out = self.run(
            "psql",
            &["-h", &socket_dir, "-p", &port, "-U", "postgres", "-Atc", statement],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let program = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = command.args(args).current_dir(self.dir.path()).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout),
            self.log()
        );
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let program = self.bin.join("pg_ctl");
        let args = ["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"].map(str::to_owned);
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(&args)
                .output()
        } else {
            Command::new(&program).args(&args).output()
        };
    }
}

/// The newest /usr/lib/postgresql/<version>/bin holding initdb.
fn binaries() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is missing (no /usr/lib/postgresql/*/bin/initdb): install it with `apt-get install postgresql` (scripts/test.sh does)")
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn postgres_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .expect("no postgres user: install the `postgresql` package");
    let fields: Vec<&str> = line.split(':').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}
