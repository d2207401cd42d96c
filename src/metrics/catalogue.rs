//! Every metric switchboard exports: its description, and the label values it takes.
//! `register` creates each series at start, so a dashboard shows 0 rather than "no data"
//! until the first event, and the label sets stay bounded (what is not listed here is a
//! value the code names itself, e.g. a new reason, and appears at its first event).

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric: its name (before the prefix), kind, help, and label dimensions.
struct Entry {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    labels: &'static [(&'static str, &'static [&'static str])],
}

const TRANSPORTS: &[&str] = &["udp", "tcp", "tls"];
const STREAMS: &[&str] = &["tcp", "tls"];
const DIRECTIONS: &[&str] = &["inbound", "outbound"];
const METHODS: &[&str] = &[
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE", "INFO", "REFER", "other",
];
const CLASSES: &[&str] = &["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];
const ROUTES: &[&str] = &["static", "workflow", "fallback", "rejected"];
const OUTCOMES: &[&str] = &[
    "answered",
    "busy",
    "no_answer",
    "failed",
    "canceled",
    "unknown_number",
    "no_agent",
    "rejected",
];
/// HTTP methods as `api_requests_total` labels them; the last is every other method.
pub const API_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"];

/// Labels whose values only the running server knows (routes, transaction states): the
/// metric is described, and its series appear with their first sample.
const AT_RUNTIME: &[(&str, &[&str])] = &[("", &[])];

const C: Kind = Kind::Counter;
const G: Kind = Kind::Gauge;
const H: Kind = Kind::Histogram;

const CATALOGUE: &[Entry] = &[
    Entry { name: "sip_requests_received_total", kind: C, help: "SIP requests received, by method and transport.", labels: &[("method", METHODS), ("transport", TRANSPORTS)] },
    Entry { name: "sip_responses_sent_total", kind: C, help: "SIP responses sent, by status class and transport.", labels: &[("class", CLASSES), ("transport", TRANSPORTS)] },
    Entry { name: "sip_requests_sent_total", kind: C, help: "SIP requests the call core sent, by method and transport.", labels: &[("method", METHODS), ("transport", TRANSPORTS)] },
    Entry { name: "sip_responses_received_total", kind: C, help: "SIP responses received, by status class and transport.", labels: &[("class", CLASSES), ("transport", TRANSPORTS)] },
    Entry { name: "sip_requests_rejected_total", kind: C, help: "Requests refused by validation, by reason.", labels: &[("reason", &["Bad Via", "Bad CSeq", "Bad From", "Bad To", "Bad Call-ID", "Bad Max-Forwards", "Bad Request-URI", "Unsupported URI Scheme", "Bad Extension"])] },
    Entry { name: "sip_parse_errors_total", kind: C, help: "Messages that could not be parsed, by transport and reason.", labels: &[("transport", TRANSPORTS), ("reason", &["start_line", "request_uri", "version", "status", "header_line", "header_value", "missing_header", "content_length", "too_large", "too_many_headers", "line_too_long", "incomplete", "framing"])] },
    Entry { name: "sip_datagrams_dropped_total", kind: C, help: "Datagrams dropped before parsing, by reason.", labels: &[("reason", &["oversized"])] },
    Entry { name: "sip_responses_dropped_total", kind: C, help: "Responses that matched no transaction (strays, and 2xx retransmissions after their transaction ended).", labels: &[] },
    Entry { name: "sip_send_errors_total", kind: C, help: "Messages that could not be sent, by transport.", labels: &[("transport", TRANSPORTS)] },
    Entry { name: "sip_send_refused_total", kind: C, help: "Sends refused because of a hostile destination.", labels: &[("reason", &["bad_destination"])] },
    Entry { name: "sip_connections_open", kind: G, help: "Open TCP/TLS connections, by transport.", labels: &[("transport", STREAMS)] },
    Entry { name: "sip_connections_refused_total", kind: C, help: "Connections refused by the caps, by transport.", labels: &[("transport", STREAMS)] },
    Entry { name: "sip_connections_closed_total", kind: C, help: "Connections closed abnormally, by transport and reason.", labels: &[("transport", STREAMS), ("reason", &["read_error", "write_error", "idle_timeout", "message_timeout", "framing_error"])] },
    Entry { name: "tls_handshake_failures_total", kind: C, help: "Failed TLS handshakes, by reason.", labels: &[("reason", &["error", "timeout", "outbound_error", "outbound_timeout"])] },
    Entry { name: "tls_certificate_reloads_total", kind: C, help: "TLS certificate reloads, by outcome.", labels: &[("outcome", &["ok", "error"])] },
    Entry { name: "sip_retransmissions_total", kind: C, help: "Messages resent by transaction timers or for retransmitted requests.", labels: &[] },
    Entry { name: "sip_transactions", kind: G, help: "Live SIP transactions, by kind and state (sampled about once a second).", labels: AT_RUNTIME },
    Entry { name: "calls_active", kind: G, help: "Calls in progress, by phase (ringing, answered).", labels: &[("phase", &["ringing", "answered"])] },
    Entry { name: "dialogs_active", kind: G, help: "Confirmed dialogs (two per answered call).", labels: &[] },
    Entry { name: "calls_started_total", kind: C, help: "Calls received, by direction and route kind (static, workflow, fallback, rejected).", labels: &[("direction", DIRECTIONS), ("route", ROUTES)] },
    Entry { name: "calls_ended_total", kind: C, help: "Calls ended, by direction, route kind and outcome.", labels: &[("direction", DIRECTIONS), ("route", ROUTES), ("outcome", OUTCOMES)] },
    Entry { name: "call_setup_first_provisional_seconds", kind: H, help: "INVITE received to the first provisional relayed to the caller.", labels: &[("direction", DIRECTIONS)] },
    Entry { name: "call_setup_answer_seconds", kind: H, help: "INVITE received to the answer relayed to the caller.", labels: &[("direction", DIRECTIONS)] },
    Entry { name: "call_records_written_total", kind: C, help: "Call records written to the store.", labels: &[] },
    Entry { name: "call_records_dropped_total", kind: C, help: "Call records lost because the writer fell behind or the store failed.", labels: &[] },
    Entry { name: "call_records_write_duration_seconds", kind: H, help: "Latency of one batch of call records.", labels: &[] },
    Entry { name: "api_requests_total", kind: C, help: "API requests, by route, method and status.", labels: AT_RUNTIME },
    Entry { name: "api_request_duration_seconds", kind: H, help: "API request latency, by route.", labels: AT_RUNTIME },
    Entry { name: "routing_lookups_total", kind: C, help: "Routing decisions looked up in the directory.", labels: &[] },
    Entry { name: "sip_admission_total", kind: C, help: "Requests through the source gate, by verdict (admitted, challenged, rate_limited, refused, dropped).", labels: &[("verdict", &["admitted", "challenged", "rate_limited", "refused", "dropped"])] },
    Entry { name: "sip_refused_total", kind: C, help: "Requests refused or dropped by the gate, by reason (unknown_source, client_certificate, wrong_trunk, banned, scanner, ...).", labels: &[("reason", &["unknown_source", "client_certificate", "wrong_trunk", "banned", "scanner", "scanner_from_listed_source", "auth_failed", "livekit_auth_failed", "larger_than_request"])] },
    Entry { name: "sip_rate_limited_total", kind: C, help: "New calls over a rate limit, by key (source, trunk) and action (503, drop).", labels: &[("key", &["source", "trunk"]), ("action", &["503", "drop"])] },
    Entry { name: "sip_auth_failures_total", kind: C, help: "Digest answers that failed (wrong password, forged nonce, ...).", labels: &[] },
    Entry { name: "sip_bans_total", kind: C, help: "Sources banned, by reason.", labels: &[("reason", &["scanner", "auth_failures"])] },
    Entry { name: "workflow_runs_total", kind: C, help: "Routing workflow runs, by outcome (selected, no_decision, rejected, trap, timeout, out_of_fuel, oom, invalid, busy).", labels: &[("outcome", &["selected", "no_decision", "rejected", "trap", "timeout", "out_of_fuel", "oom", "invalid", "busy"])] },
    Entry { name: "workflow_run_duration_seconds", kind: H, help: "Time of one routing workflow run, instantiation included.", labels: &[] },
    Entry { name: "store_write_duration_seconds", kind: H, help: "Latency of committed store writes.", labels: &[] },
];

/// Describe every metric, and create every listed series at zero.
pub fn register() {
    metrics::gauge!("build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    describe_gauge!("build_info", "Build information; always 1.");
    for entry in CATALOGUE {
        match entry.kind {
            Kind::Counter => describe_counter!(entry.name, entry.help),
            Kind::Gauge => describe_gauge!(entry.name, entry.help),
            Kind::Histogram => describe_histogram!(entry.name, Unit::Seconds, entry.help),
        }
        for labels in combinations(entry.labels) {
            match entry.kind {
                Kind::Counter => drop(metrics::counter!(entry.name, labels.clone())),
                Kind::Gauge => drop(metrics::gauge!(entry.name, labels.clone())),
                Kind::Histogram => drop(metrics::histogram!(entry.name, labels)),
            }
        }
    }
}

/// Every combination of the dimensions' values (one empty set for a metric without labels).
fn combinations(dimensions: &[(&'static str, &'static [&'static str])]) -> Vec<Vec<metrics::Label>> {
    let mut sets: Vec<Vec<metrics::Label>> = vec![Vec::new()];
    for (name, values) in dimensions {
        sets = sets
            .into_iter()
            .flat_map(|set| {
                values.iter().map(move |value| {
                    let mut set = set.clone();
                    set.push(metrics::Label::new(*name, *value));
                    set
                })
            })
            .collect();
    }
    sets
}

/// The names in the catalogue (without the prefix), for tests.
pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|e| e.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_are_every_combination() {
        let sets = combinations(&[("a", &["1", "2"]), ("b", &["x", "y", "z"])]);
        assert_eq!(sets.len(), 6);
        assert_eq!(combinations(&[]).len(), 1);
        assert!(combinations(AT_RUNTIME).is_empty());
    }
}
