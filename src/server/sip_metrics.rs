//! The call path's metrics, registered once. A `counter!` with label values looked up per
//! message builds a key and searches the registry every time; these are relaxed atomic adds
//! on counters of our own (`LocalCounters`), published into the exporter once a second and
//! at each scrape (the comparison harness holds metrics to a few percent of a call's CPU).

use std::sync::Arc;

use metrics::{Counter, Histogram};

use crate::b2bua::Outcome;
use crate::metrics::LocalCounters;
use crate::routing::RouteKind;
use crate::sip::Method;
use crate::transport::Transport;

const TRANSPORTS: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Tls];
/// Method labels; the last is every method we do not name.
const METHODS: [&str; 11] = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE", "INFO", "REFER", "other",
];
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];
pub const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];
/// Route labels; the last is a call refused before any agent was chosen.
const ROUTES: [&str; 4] = ["static", "workflow", "fallback", "rejected"];
/// `sip_requests_rejected_total` reasons: validation's status phrases.
const REJECTIONS: [&str; 9] = [
    "Bad Via",
    "Bad CSeq",
    "Bad From",
    "Bad To",
    "Bad Call-ID",
    "Bad Max-Forwards",
    "Bad Request-URI",
    "Unsupported URI Scheme",
    "Bad Extension",
];
/// `sip_parse_errors_total` reasons: `ParseError::label`'s values.
const PARSE_ERRORS: [&str; 12] = [
    "start_line",
    "request_uri",
    "version",
    "status",
    "header_line",
    "header_value",
    "missing_header",
    "content_length",
    "too_large",
    "too_many_headers",
    "line_too_long",
    "incomplete",
];
const OUTCOMES: [Outcome; 8] = [
    Outcome::Answered,
    Outcome::Busy,
    Outcome::NoAnswer,
    Outcome::Failed,
    Outcome::Canceled,
    Outcome::UnknownNumber,
    Outcome::NoAgent,
    Outcome::Rejected,
];

/// Handles for every label combination the call path uses.
pub struct SipMetrics {
    requests_received: Arc<LocalCounters>,
    requests_sent: Arc<LocalCounters>,
    responses_sent: Arc<LocalCounters>,
    responses_received: Arc<LocalCounters>,
    calls_started: Arc<LocalCounters>,
    calls_ended: Arc<LocalCounters>,
    /// Requests refused by validation, by [`REJECTIONS`].
    rejected: Arc<LocalCounters>,
    /// Datagrams that did not parse, by transport and [`PARSE_ERRORS`].
    parse_errors: Arc<LocalCounters>,
    first_provisional: [Histogram; 2],
    answer: [Histogram; 2],
}

impl SipMetrics {
    /// Register the handles with whatever recorder is installed now (none: no-ops).
    pub fn register() -> SipMetrics {
        let by_method = |name: &'static str| {
            let mut v = Vec::new();
            for t in TRANSPORTS {
                for m in METHODS {
                    v.push(metrics::counter!(name, "method" => m, "transport" => t.label()));
                }
            }
            LocalCounters::new(v)
        };
        let by_class = |name: &'static str| {
            let mut v = Vec::new();
            for t in TRANSPORTS {
                for c in CLASSES {
                    v.push(metrics::counter!(name, "class" => c, "transport" => t.label()));
                }
            }
            LocalCounters::new(v)
        };
        let mut calls_started: Vec<Counter> = Vec::new();
        let mut calls_ended: Vec<Counter> = Vec::new();
        for d in DIRECTIONS {
            for r in ROUTES {
                calls_started.push(metrics::counter!("calls_started_total", "direction" => d, "route" => r));
                for o in OUTCOMES {
                    calls_ended.push(
                        metrics::counter!("calls_ended_total", "direction" => d, "route" => r, "outcome" => o.label()),
                    );
                }
            }
        }
        SipMetrics {
            requests_received: by_method("sip_requests_received_total"),
            requests_sent: by_method("sip_requests_sent_total"),
            responses_sent: by_class("sip_responses_sent_total"),
            responses_received: by_class("sip_responses_received_total"),
            calls_started: LocalCounters::new(calls_started),
            calls_ended: LocalCounters::new(calls_ended),
            rejected: LocalCounters::new(
                REJECTIONS
                    .iter()
                    .map(|r| metrics::counter!("sip_requests_rejected_total", "reason" => *r))
                    .collect(),
            ),
            parse_errors: LocalCounters::new(
                TRANSPORTS
                    .iter()
                    .flat_map(|t| {
                        PARSE_ERRORS.iter().map(
                            |r| metrics::counter!("sip_parse_errors_total", "transport" => t.label(), "reason" => *r),
                        )
                    })
                    .collect(),
            ),
            first_provisional: DIRECTIONS
                .map(|d| metrics::histogram!("call_setup_first_provisional_seconds", "direction" => d)),
            answer: DIRECTIONS.map(|d| metrics::histogram!("call_setup_answer_seconds", "direction" => d)),
        }
    }

    pub fn request_received(&self, method: &Method, transport: Transport) {
        self.requests_received
            .increment(transport_index(transport) * METHODS.len() + method_index(method));
    }

    pub fn request_sent(&self, method: &Method, transport: Transport) {
        self.requests_sent
            .increment(transport_index(transport) * METHODS.len() + method_index(method));
    }

    pub fn response_sent(&self, status: u16, transport: Transport) {
        self.responses_sent
            .increment(transport_index(transport) * CLASSES.len() + class_index(status));
    }

    pub fn response_received(&self, status: u16, transport: Transport) {
        self.responses_received
            .increment(transport_index(transport) * CLASSES.len() + class_index(status));
    }

    pub fn call_started(&self, direction: usize, route: Option<RouteKind>) {
        self.calls_started
            .increment(direction * ROUTES.len() + route_index(route));
    }

    pub fn call_ended(&self, direction: usize, route: Option<RouteKind>, outcome: Outcome) {
        let o = OUTCOMES.iter().position(|x| *x == outcome).unwrap_or(3);
        self.calls_ended
            .increment((direction * ROUTES.len() + route_index(route)) * OUTCOMES.len() + o);
    }

    /// A request validation refused (a reason of no known label is looked up by name).
    pub fn request_rejected(&self, reason: &'static str) {
        match REJECTIONS.iter().position(|r| *r == reason) {
            Some(i) => self.rejected.increment(i),
            None => metrics::counter!("sip_requests_rejected_total", "reason" => reason).increment(1),
        }
    }

    /// A message that did not parse.
    pub fn parse_error(&self, transport: Transport, reason: &'static str) {
        match PARSE_ERRORS.iter().position(|r| *r == reason) {
            Some(i) => self
                .parse_errors
                .increment(transport_index(transport) * PARSE_ERRORS.len() + i),
            None => metrics::counter!("sip_parse_errors_total", "transport" => transport.label(), "reason" => reason)
                .increment(1),
        }
    }

    pub fn ringing_after(&self, direction: usize, after: std::time::Duration) {
        self.first_provisional[direction].record(after.as_secs_f64());
    }

    pub fn answered_after(&self, direction: usize, after: std::time::Duration) {
        self.answer[direction].record(after.as_secs_f64());
    }
}

fn transport_index(t: Transport) -> usize {
    match t {
        Transport::Udp => 0,
        Transport::Tcp => 1,
        Transport::Tls => 2,
    }
}

fn method_index(m: &Method) -> usize {
    match m {
        Method::Invite => 0,
        Method::Ack => 1,
        Method::Bye => 2,
        Method::Cancel => 3,
        Method::Options => 4,
        Method::Register => 5,
        Method::Prack => 6,
        Method::Update => 7,
        Method::Info => 8,
        Method::Refer => 9,
        _ => 10,
    }
}

fn class_index(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 6) - 1
}

fn route_index(route: Option<RouteKind>) -> usize {
    match route {
        Some(RouteKind::Static) => 0,
        Some(RouteKind::Workflow) => 1,
        Some(RouteKind::Fallback) => 2,
        None => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of `series` in the exposition (published first).
    fn exported(series: &str) -> Option<u64> {
        crate::metrics::render()
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn refusals_and_parse_errors_are_counted_by_their_labels_without_a_lookup() {
        crate::metrics::install();
        let metrics = SipMetrics::register();
        let rejected = "switchboard_sip_requests_rejected_total{reason=\"Bad Extension\"}";
        let parse = "switchboard_sip_parse_errors_total{transport=\"tcp\",reason=\"incomplete\"}";
        let (rejected_before, parse_before) = (exported(rejected).unwrap_or(0), exported(parse).unwrap_or(0));
        metrics.request_rejected("Bad Extension");
        metrics.parse_error(Transport::Tcp, "incomplete");
        metrics.parse_error(Transport::Tcp, "incomplete");
        assert_eq!(exported(rejected), Some(rejected_before + 1));
        assert_eq!(exported(parse), Some(parse_before + 2));
        // A label not in the lists is still counted (through the registry).
        metrics.parse_error(Transport::Udp, "framing");
        assert!(
            exported("switchboard_sip_parse_errors_total{transport=\"udp\",reason=\"framing\"}")
                .is_some_and(|n| n >= 1)
        );
    }
}
