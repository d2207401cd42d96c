//! Prometheus metrics: the recorder every `metrics::counter!` in the crate reports to, the
//! descriptions of what we export, and the text exposition served at `GET /metrics`.
//!
//! Names follow Prometheus' conventions: every metric is exported as `switchboard_<name>`
//! (call sites use the short name; the recorder adds the prefix), beside the standard
//! `process_*` metrics. Every metric is described and its series created at start
//! (`catalogue`), so a dashboard reads 0 before the first event.
//!
//! Labels stay low-cardinality: methods, status classes, transports, outcomes, route kinds.
//! Never a phone number, Call-ID, agent id or address.

mod catalogue;
mod local;
mod prefix;
mod process;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use catalogue::{names, API_METHODS};
pub use local::LocalCounters;
pub use prefix::{exported, PREFIX};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Buckets for call-setup and workflow durations (seconds).
const SETUP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Install the process-wide recorder once; later calls return the same handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SETUP_BUCKETS)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // A second install (another server in the same test process) keeps the first.
            let _ = metrics::set_global_recorder(prefix::Prefixed::new(recorder));
            catalogue::register();
            handle
        })
        .clone()
}

/// Whether a recorder is installed (`[api] metrics`).
pub fn installed() -> bool {
    HANDLE.get().is_some()
}

/// The exposition text, for `GET /metrics`.
pub fn render() -> String {
    local::publish();
    let mut text = install().render();
    process::render(&mut text);
    text
}

/// Publish the call path's own counters, and fold recorded histogram samples into their
/// buckets. The exporter keeps every sample until this runs or `/metrics` is scraped:
/// without it, a server nobody scrapes would grow by each call's setup times. The timer
/// thread calls this about once a second.
pub fn upkeep() {
    if let Some(handle) = HANDLE.get() {
        local::publish();
        handle.run_upkeep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_up_in_the_exposition() {
        install();
        metrics::counter!("sip_requests_received_total", "method" => "OPTIONS", "transport" => "udp").increment(3);
        let text = render();
        assert!(text.contains("switchboard_build_info"), "{text}");
        assert!(
            text.contains("switchboard_sip_requests_received_total{method=\"OPTIONS\",transport=\"udp\"}"),
            "{text}"
        );
    }

    #[test]
    fn every_sample_is_prefixed_and_every_metric_is_there_before_its_first_event() {
        install();
        let text = render();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            assert!(
                line.starts_with("switchboard_") || line.starts_with("process_"),
                "{line}"
            );
        }
        for name in
            names().filter(|n| !["sip_transactions", "api_requests_total", "api_request_duration_seconds"].contains(n))
        {
            let exported = exported(name);
            assert!(
                text.lines()
                    .any(|l| !l.starts_with('#') && l.starts_with(exported.as_ref())),
                "{exported} has no sample:\n{text}"
            );
        }
        assert!(text.contains("switchboard_sip_responses_dropped_total 0"), "{text}");
        assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
    }
}
