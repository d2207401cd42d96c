//! The SIP front door: parse, refuse what is malformed (with a response wherever one is
//! possible), answer what needs no call state (OPTIONS, methods we do not serve), and hand
//! the rest on. Until the call path is wired, every request gets a clear final response.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use super::reply;
use crate::sip::{self, HeaderName, Message, Method};
use crate::transport::{Handler, Incoming, Outgoing};

/// Methods we serve, for `Allow` headers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, REFER";

/// The stateless part of the SIP edge.
pub struct SipHandler {
    server_header: String,
    draining: AtomicBool,
}

impl SipHandler {
    pub fn new(server_header: String) -> SipHandler {
        SipHandler {
            server_header,
            draining: AtomicBool::new(false),
        }
    }

    /// Stop taking new calls: OPTIONS and new INVITEs are answered 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    fn handle_request(&self, incoming: &Incoming, mut request: Message, out: &mut Vec<Outgoing>) {
        let method = request.method().cloned().unwrap_or(Method::Ack);
        metrics::counter!("sip_requests_received_total", "method" => method_label(&method), "transport" => incoming.transport.label()).increment(1);
        reply::stamp_top_via(&mut request, incoming.source);
        if let Err(rejection) = sip::validate_request(&request) {
            metrics::counter!("sip_requests_rejected_total", "reason" => rejection.reason).increment(1);
            if method == Method::Ack {
                return;
            }
            let mut response = sip::response_for(&request, rejection.status, rejection.reason);
            if let Some(unsupported) = rejection.unsupported {
                response = response.header(HeaderName::Unsupported, unsupported);
            }
            if rejection.status == 405 || rejection.status == 501 {
                response = response.header(HeaderName::Allow, Bytes::from_static(ALLOW.as_bytes()));
            }
            self.send(incoming, &request, response, out);
            return;
        }
        let (status, reason) = match method {
            Method::Ack => return,
            Method::Options if self.is_draining() => (503, "Draining"),
            Method::Options => (200, "OK"),
            _ if matches!(request.max_forwards(), Ok(Some(0))) => (483, "Too Many Hops"),
            Method::Invite if self.is_draining() => (503, "Draining"),
            Method::Invite => (480, "Temporarily Unavailable"),
            Method::Bye | Method::Cancel | Method::Prack | Method::Update | Method::Info | Method::Refer => {
                (481, "Call/Transaction Does Not Exist")
            }
            Method::Register | Method::Subscribe | Method::Notify | Method::Publish | Method::Message => {
                (405, "Method Not Allowed")
            }
            _ => (501, "Not Implemented"),
        };
        let mut response = sip::response_for(&request, status, reason);
        if matches!(status, 200 | 405 | 501) {
            response = response.header(HeaderName::Allow, Bytes::from_static(ALLOW.as_bytes()));
        }
        if status == 200 {
            response = response
                .header(HeaderName::Accept, Bytes::from_static(b"application/sdp"))
                .header(HeaderName::Supported, Bytes::from_static(b"timer, 100rel"));
        }
        if status == 503 {
            response = response.header(HeaderName::RetryAfter, Bytes::from_static(b"30"));
        }
        if status == 480 {
            response = response.header(
                HeaderName::Reason,
                Bytes::from_static(b"SIP;cause=480;text=\"no route\""),
            );
        }
        self.send(incoming, &request, response, out);
    }

    fn send(
        &self,
        incoming: &Incoming,
        request: &Message,
        mut response: sip::ResponseBuilder,
        out: &mut Vec<Outgoing>,
    ) {
        if !self.server_header.is_empty() {
            response = response.header(
                HeaderName::Server,
                Bytes::copy_from_slice(self.server_header.as_bytes()),
            );
        }
        let response = response.to_tag(local_tag(request)).build();
        let status = response.status().unwrap_or(500);
        metrics::counter!("sip_responses_sent_total", "class" => status_class(status), "transport" => incoming.transport.label()).increment(1);
        out.push(reply::to_source(incoming, request, response.to_bytes()));
    }
}

impl Handler for SipHandler {
    fn handle(&self, incoming: Incoming, out: &mut Vec<Outgoing>) {
        match Message::parse(incoming.bytes.clone()) {
            Ok(message) if message.is_request() => self.handle_request(&incoming, message, out),
            Ok(_) => {
                // A response with no transaction of ours: nothing to answer (RFC 3261 §18.1.2).
                metrics::counter!("sip_responses_dropped_total", "reason" => "no_transaction").increment(1);
            }
            Err(err) => {
                metrics::counter!("sip_parse_errors_total", "transport" => incoming.transport.label(), "reason" => err.label()).increment(1);
                tracing::debug!(source = %incoming.source, %err, "malformed message");
                if let Some(bytes) = sip::best_effort_response(&incoming.bytes, &err) {
                    out.push(Outgoing {
                        bytes,
                        destination: incoming.source,
                        transport: incoming.transport,
                        connection: incoming.connection,
                    });
                }
            }
        }
    }
}

/// A To tag for responses we generate ourselves: derived from the request's Call-ID and
/// branch so a retransmitted request gets the same tag (stateless, RFC 3261 §8.2.6.2).
fn local_tag(request: &Message) -> Bytes {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.call_id().hash(&mut hasher);
    if let Ok(via) = request.top_via() {
        via.branch.hash(&mut hasher);
    }
    Bytes::from(format!("sb{:016x}", hasher.finish()))
}

fn method_label(method: &Method) -> &'static str {
    match method {
        Method::Invite => "INVITE",
        Method::Ack => "ACK",
        Method::Bye => "BYE",
        Method::Cancel => "CANCEL",
        Method::Options => "OPTIONS",
        Method::Register => "REGISTER",
        Method::Prack => "PRACK",
        Method::Update => "UPDATE",
        Method::Info => "INFO",
        Method::Refer => "REFER",
        _ => "other",
    }
}

pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "6xx",
    }
}
