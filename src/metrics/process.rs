//! The standard `process_*` metrics (the names every Prometheus client library exports),
//! read from `/proc/self` at each scrape: CPU time, memory, file descriptors, threads and
//! start time. Elsewhere than Linux there is no `/proc`, and they are simply absent.

use std::fmt::Write;

/// Append the process metrics to an exposition.
pub fn render(out: &mut String) {
    let Some(sample) = Sample::read() else { return };
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        sample.cpu_seconds,
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        sample.resident_bytes,
    );
    metric(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        sample.virtual_bytes,
    );
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        sample.start_time_seconds,
    );
    metric(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        sample.open_fds,
    );
    if let Some(max) = sample.max_fds {
        metric(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max,
        );
    }
    metric(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        sample.threads,
    );
}

/// One reading of `/proc/self`.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: f64,
    open_fds: f64,
    max_fds: Option<f64>,
    threads: f64,
}

impl Sample {
    fn read() -> Option<Sample> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        // SAFETY: sysconf reads a constant of the running system; no memory is touched.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Sample::parse(&stat, &status, &boot, &limits, open_fds, ticks.max(1) as f64)
    }

    /// From the text of `/proc/self/stat`, `/proc/self/status`, `/proc/stat` and
    /// `/proc/self/limits`, with `ticks` clock ticks a second.
    fn parse(stat: &str, status: &str, boot: &str, limits: &str, open_fds: f64, ticks: f64) -> Option<Sample> {
        // The command name is in parentheses and may hold spaces: count fields after it.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // After the name, field 3 of proc(5) (state) is index 0.
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        let (utime, stime, start_ticks) = (field(14)?, field(15)?, field(22)?);
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        };
        let btime = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())?;
        let max_fds = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3)?.parse::<f64>().ok());
        Some(Sample {
            cpu_seconds: (utime + stime) / ticks,
            resident_bytes: kib("VmRSS:").unwrap_or(0.0) * 1024.0,
            virtual_bytes: kib("VmSize:").unwrap_or(0.0) * 1024.0,
            start_time_seconds: btime + start_ticks / ticks,
            open_fds,
            max_fds,
            threads: kib("Threads:").unwrap_or(1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proc_reading_parses() {
        let stat = "4242 (switch board) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 \
                    9 0 12300 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        let status = "Name:\tswitchboard\nVmSize:\t  204800 kB\nVmRSS:\t   10240 kB\nThreads:\t9\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 10\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        let sample = Sample::parse(stat, status, boot, limits, 12.0, 100.0).unwrap();
        assert_eq!(
            sample,
            Sample {
                cpu_seconds: 3.0,
                resident_bytes: 10240.0 * 1024.0,
                virtual_bytes: 204800.0 * 1024.0,
                start_time_seconds: 1_700_000_123.0,
                open_fds: 12.0,
                max_fds: Some(1024.0),
                threads: 9.0,
            }
        );
    }

    #[test]
    fn this_process_reports_itself() {
        let mut out = String::new();
        render(&mut out);
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
        ] {
            assert!(out.contains(&format!("\n{name} ")), "{out}");
        }
    }
}
