//! Prometheus metrics: the recorder every `metrics::counter!` in the crate reports to, the
//! descriptions of what we export, and the text exposition served at `GET /metrics`.
//!
//! Labels stay low-cardinality: methods, status classes, transports, outcomes, route kinds.
//! Never a phone number, Call-ID, agent id or address.

mod local;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use local::LocalCounters;

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
            let _ = metrics::set_global_recorder(recorder);
            describe();
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
    install().render()
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

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    metrics::gauge!("switchboard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    describe_gauge!("switchboard_build_info", "Build information; always 1.");
    describe_counter!(
        "sip_requests_received_total",
        "SIP requests received, by method and transport."
    );
    describe_counter!(
        "sip_responses_sent_total",
        "SIP responses sent, by status class and transport."
    );
    describe_counter!(
        "sip_requests_rejected_total",
        "Requests refused by validation, by reason."
    );
    describe_counter!(
        "sip_parse_errors_total",
        "Messages that could not be parsed, by transport and reason."
    );
    describe_counter!(
        "sip_datagrams_dropped_total",
        "Datagrams dropped before parsing, by reason."
    );
    describe_counter!("sip_responses_dropped_total", "Responses that matched no transaction.");
    describe_counter!(
        "sip_send_errors_total",
        "Messages that could not be sent, by transport."
    );
    describe_counter!(
        "sip_send_refused_total",
        "Sends refused because of a hostile destination."
    );
    describe_gauge!("sip_connections_open", "Open TCP/TLS connections, by transport.");
    describe_counter!(
        "sip_connections_refused_total",
        "Connections refused by the caps, by transport."
    );
    describe_counter!(
        "sip_connections_closed_total",
        "Connections closed abnormally, by transport and reason."
    );
    describe_counter!("tls_handshake_failures_total", "Failed TLS handshakes, by reason.");
    describe_counter!("tls_certificate_reloads_total", "TLS certificate reloads, by outcome.");
    describe_counter!(
        "sip_requests_sent_total",
        "SIP requests the call core sent, by method and transport."
    );
    describe_counter!(
        "sip_responses_received_total",
        "SIP responses received, by status class and transport."
    );
    describe_counter!(
        "sip_retransmissions_total",
        "Messages resent by transaction timers or for retransmitted requests."
    );
    describe_gauge!("sip_transactions", "Live SIP transactions, by kind and state.");
    describe_gauge!("calls_active", "Calls in progress, by phase (ringing, answered).");
    describe_gauge!("dialogs_active", "Confirmed dialogs (two per answered call).");
    describe_counter!(
        "calls_started_total",
        "Calls received, by direction and route kind (static, workflow, fallback, rejected)."
    );
    describe_counter!(
        "calls_ended_total",
        "Calls ended, by direction, route kind and outcome."
    );
    describe_histogram!(
        "call_setup_first_provisional_seconds",
        Unit::Seconds,
        "INVITE received to the first provisional relayed to the caller."
    );
    describe_histogram!(
        "call_setup_answer_seconds",
        Unit::Seconds,
        "INVITE received to the answer relayed to the caller."
    );
    describe_counter!("call_records_written_total", "Call records written to the store.");
    describe_counter!(
        "call_records_dropped_total",
        "Call records lost because the writer fell behind or the store failed."
    );
    describe_histogram!(
        "call_records_write_duration_seconds",
        Unit::Seconds,
        "Latency of one batch of call records."
    );
    describe_counter!("api_requests_total", "API requests, by route, method and status.");
    describe_histogram!(
        "api_request_duration_seconds",
        Unit::Seconds,
        "API request latency, by route."
    );
    describe_counter!("routing_lookups_total", "Routing decisions looked up in the directory.");
    describe_counter!(
        "sip_admission_total",
        "Requests through the source gate, by verdict (admitted, challenged, rate_limited, refused, dropped)."
    );
    describe_counter!(
        "sip_refused_total",
        "Requests refused or dropped by the gate, by reason (unknown_source, client_certificate, wrong_trunk, banned, scanner, ...)."
    );
    describe_counter!(
        "sip_rate_limited_total",
        "New calls over a rate limit, by key (source, trunk) and action (503, drop)."
    );
    describe_counter!(
        "sip_auth_failures_total",
        "Digest answers that failed (wrong password, forged nonce, ...)."
    );
    describe_counter!("sip_bans_total", "Sources banned, by reason.");
    describe_counter!(
        "workflow_runs_total",
        "Routing workflow runs, by outcome (selected, no_decision, rejected, trap, timeout, out_of_fuel, oom, invalid, busy)."
    );
    describe_histogram!(
        "workflow_run_duration_seconds",
        Unit::Seconds,
        "Time of one routing workflow run, instantiation included."
    );
    describe_histogram!(
        "store_write_duration_seconds",
        Unit::Seconds,
        "Latency of committed store writes."
    );
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
            text.contains("sip_requests_received_total{method=\"OPTIONS\",transport=\"udp\"}"),
            "{text}"
        );
    }
}
