//! The table walked variant by variant. Each list names every variant of its enum: the
//! `index` matches below are exhaustive, so a new variant does not compile until it has an
//! index, and the coverage check then fails until it has a row with its answer.

use super::*;
use crate::routing::Miss;

/// Statuses as a call core configured with the defaults answers them.
const CONFIGURED: Configured = Configured {
    failure_status: 503,
    no_answer_status: 480,
    retry_after_secs: 30,
    min_session_expires_secs: 90,
};

/// Every index in `0..count` appears in `indices`: each variant has its row.
fn assert_every_variant(what: &str, indices: impl Iterator<Item = usize>, count: usize) {
    let mut seen = vec![false; count];
    for i in indices {
        seen[i] = true;
    }
    let missing: Vec<usize> = (0..count).filter(|i| !seen[*i]).collect();
    assert!(missing.is_empty(), "{what}: variants {missing:?} have no row");
}

fn gate_index(r: &GateRefusal) -> usize {
    match r {
        GateRefusal::Challenge { .. } => 0,
        GateRefusal::RateLimited { .. } => 1,
        GateRefusal::Stranger => 2,
    }
}

#[test]
fn every_gate_refusal_has_its_answer_and_none_says_why() {
    let rows = [
        (
            GateRefusal::Challenge {
                offers: vec![],
                stranger: true,
            },
            401,
            "Unauthorized",
            None,
        ),
        (
            GateRefusal::RateLimited { retry_after_secs: 7 },
            503,
            "Service Unavailable",
            Some(7),
        ),
        (GateRefusal::Stranger, 403, "Forbidden", None),
    ];
    assert_every_variant("GateRefusal", rows.iter().map(|r| gate_index(&r.0)), 3);
    for (refusal, status, phrase, retry_after) in rows {
        let answer = gate(&refusal);
        assert_eq!(
            (answer.status, answer.phrase, answer.retry_after),
            (status, phrase, retry_after),
            "{refusal:?}"
        );
        assert_eq!(
            (answer.reason, answer.min_se),
            (None, None),
            "{refusal:?}: a stranger learns nothing"
        );
    }
}

fn stateless_index(s: Stateless) -> usize {
    match s {
        Stateless::Capabilities => 0,
        Stateless::Draining => 1,
        Stateless::TooManyHops => 2,
        Stateless::NoRoute => 3,
        Stateless::NoSuchCall => 4,
        Stateless::NotAllowed => 5,
        Stateless::NotImplemented => 6,
    }
}

#[test]
fn every_stateless_answer_has_its_status_line() {
    let rows = [
        (Stateless::Capabilities, 200, "OK", None, None),
        (Stateless::Draining, 503, "Draining", None, Some(30)),
        (Stateless::TooManyHops, 483, "Too Many Hops", None, None),
        (
            Stateless::NoRoute,
            480,
            "Temporarily Unavailable",
            Some("no route"),
            None,
        ),
        (
            Stateless::NoSuchCall,
            481,
            "Call/Transaction Does Not Exist",
            None,
            None,
        ),
        (Stateless::NotAllowed, 405, "Method Not Allowed", None, None),
        (Stateless::NotImplemented, 501, "Not Implemented", None, None),
    ];
    assert_every_variant("Stateless", rows.iter().map(|r| stateless_index(r.0)), 7);
    for (answer, status, phrase, reason, retry_after) in rows {
        let got = stateless(answer);
        assert_eq!(
            (got.status, got.phrase, got.reason, got.retry_after),
            (status, phrase, reason, retry_after),
            "{answer:?}"
        );
    }
}

fn refusal_index(r: &Refusal) -> usize {
    match r {
        Refusal::UnknownNumber => 0,
        Refusal::AddressIncomplete => 1,
        Refusal::NoAgent => 2,
        Refusal::Rejected { .. } => 3,
        Refusal::NoFallback { miss: Miss::NoDecision } => 4,
        Refusal::NoFallback { miss: Miss::Failed } => 5,
        Refusal::NoFallback {
            miss: Miss::UnknownAgent,
        } => 6,
        Refusal::NoDestination => 7,
        Refusal::Busy => 8,
    }
}

#[test]
fn every_routing_refusal_has_its_status_and_reason() {
    let rows = [
        (Refusal::UnknownNumber, 404, "number not hosted"),
        (Refusal::AddressIncomplete, 484, "the request names no phone number"),
        (Refusal::NoAgent, 480, "no agent assigned"),
        (Refusal::Rejected { status: 486 }, 486, "rejected by routing workflow"),
        (
            Refusal::NoFallback { miss: Miss::NoDecision },
            480,
            "routing workflow made no decision and no fallback is set",
        ),
        (
            Refusal::NoFallback { miss: Miss::Failed },
            480,
            "routing workflow failed and no fallback is set",
        ),
        (
            Refusal::NoFallback {
                miss: Miss::UnknownAgent,
            },
            480,
            "routing workflow chose an unknown or unpublished agent and no fallback is set",
        ),
        (Refusal::NoDestination, 503, "agent endpoint unresolvable"),
        (Refusal::Busy, 503, "routing busy for this organization"),
    ];
    assert_every_variant("Refusal", rows.iter().map(|r| refusal_index(&r.0)), 9);
    for (refusal, status, why) in rows {
        assert_eq!(routing(&refusal), (status, why), "{refusal:?}");
        let answer = call(&CallError::Refused(refusal.clone()), CONFIGURED);
        assert_eq!((answer.status, answer.reason), (status, Some(why)), "{refusal:?}");
        assert_eq!(answer.retry_after.is_some(), status == 503, "{refusal:?}");
    }
}

fn outbound_index(r: &OutboundRefusal) -> usize {
    match r {
        OutboundRefusal::NotAuthorised => 0,
        OutboundRefusal::NoAgentVersion => 1,
        OutboundRefusal::UnknownAgentVersion => 2,
        OutboundRefusal::CallerIdNotHosted => 3,
        OutboundRefusal::CallerIdNotAllowed => 4,
        OutboundRefusal::NoCallerId => 5,
        OutboundRefusal::AmbiguousCallerId => 6,
        OutboundRefusal::InvalidDestination => 7,
        OutboundRefusal::DeniedDestination => 8,
        OutboundRefusal::InternationalDenied => 9,
        OutboundRefusal::NoOutboundTrunk => 10,
        OutboundRefusal::NoDestination => 11,
        OutboundRefusal::NotConfigured => 12,
    }
}

#[test]
fn every_outbound_refusal_has_its_status_and_reason() {
    let rows = [
        (OutboundRefusal::NotAuthorised, 403, "outbound call not authorised"),
        (
            OutboundRefusal::NoAgentVersion,
            403,
            "no X-Switchboard-Agent-Version-Id",
        ),
        (
            OutboundRefusal::UnknownAgentVersion,
            403,
            "unknown or unpublished agent version",
        ),
        (
            OutboundRefusal::CallerIdNotHosted,
            403,
            "caller ID is not a number of this org",
        ),
        (
            OutboundRefusal::CallerIdNotAllowed,
            403,
            "caller ID is assigned to another agent and not shareable",
        ),
        (
            OutboundRefusal::NoCallerId,
            403,
            "no number is assigned to this agent version for outbound calls",
        ),
        (
            OutboundRefusal::AmbiguousCallerId,
            403,
            "several numbers are assigned to this agent version: name one as caller ID",
        ),
        (
            OutboundRefusal::InvalidDestination,
            484,
            "dialled number is not a valid E.164 number",
        ),
        (
            OutboundRefusal::DeniedDestination,
            403,
            "destination is on the deny list",
        ),
        (
            OutboundRefusal::InternationalDenied,
            403,
            "international destination not allowed",
        ),
        (
            OutboundRefusal::NoOutboundTrunk,
            403,
            "the caller ID's trunk has no outbound configuration",
        ),
        (OutboundRefusal::NoDestination, 503, "carrier address unresolvable"),
        (OutboundRefusal::NotConfigured, 403, "outbound calls are not configured"),
    ];
    assert_every_variant("OutboundRefusal", rows.iter().map(|r| outbound_index(&r.0)), 13);
    for (refusal, status, why) in rows {
        assert_eq!(outbound(&refusal), (status, why), "{refusal:?}");
        let answer = call(&CallError::OutboundRefused(refusal.clone()), CONFIGURED);
        assert_eq!((answer.status, answer.reason), (status, Some(why)), "{refusal:?}");
    }
}

fn call_index(e: &CallError) -> usize {
    match e {
        CallError::Refused(_) => 0,
        CallError::OutboundRefused(_) => 1,
        CallError::Media(MediaError::NoOffer) => 2,
        CallError::Media(MediaError::SrtpRequired) => 3,
        CallError::Media(MediaError::SrtpNotSupported) => 4,
        CallError::TrunkBusy => 5,
        CallError::TrunkRate(_) => 6,
        CallError::CarrierTimeout => 7,
        CallError::CarrierUnreachable => 8,
        CallError::CarrierRejected(_) => 9,
        CallError::CarrierAuthFailed => 10,
        CallError::AgentTimeout => 11,
        CallError::AgentUnreachable => 12,
        CallError::AgentRejected(_) => 13,
        CallError::NoAnswer => 14,
        CallError::TooManyCalls => 15,
        CallError::Draining => 16,
        CallError::TooManyHops => 17,
        CallError::Loop => 18,
        CallError::MergedRequest => 19,
        CallError::SessionIntervalTooSmall => 20,
        CallError::Cancelled => 21,
        CallError::RoutingTimeout => 22,
        CallError::AgentGaveUp => 23,
        CallError::NoSuchDialog => 24,
        CallError::RequestPending => 25,
        CallError::ReferRefused => 26,
        CallError::RelayTimeout => 27,
    }
}

#[test]
fn every_call_failure_has_its_status_reason_and_retry_after() {
    // failure_status 408 and no_answer_status 486 here, so that the configured ones show.
    let configured = Configured {
        failure_status: 408,
        no_answer_status: 486,
        ..CONFIGURED
    };
    let rows = [
        (CallError::Refused(Refusal::NoAgent), 480, "no agent assigned", None),
        (
            CallError::OutboundRefused(OutboundRefusal::NoDestination),
            503,
            "carrier address unresolvable",
            Some(30),
        ),
        (
            CallError::Media(MediaError::NoOffer),
            488,
            "trunk requires SRTP: no SDP offer to check",
            None,
        ),
        (
            CallError::Media(MediaError::SrtpRequired),
            488,
            "trunk requires SRTP (RTP/SAVP with a=crypto)",
            None,
        ),
        (
            CallError::Media(MediaError::SrtpNotSupported),
            488,
            "trunk does not support SRTP",
            None,
        ),
        (
            CallError::TrunkBusy,
            503,
            "trunk concurrent call limit reached",
            Some(30),
        ),
        (CallError::TrunkRate(4), 503, "trunk call rate limit reached", Some(4)),
        (CallError::CarrierTimeout, 408, "carrier did not respond", None),
        (CallError::CarrierUnreachable, 408, "carrier unreachable", None),
        (CallError::CarrierRejected(486), 486, "carrier rejected the call", None),
        (CallError::CarrierAuthFailed, 403, "carrier authentication failed", None),
        (CallError::AgentTimeout, 408, "agent did not respond", None),
        (CallError::AgentUnreachable, 408, "agent unreachable", None),
        (CallError::AgentRejected(603), 603, "agent rejected the call", None),
        (CallError::NoAnswer, 486, "no answer", None),
        (CallError::TooManyCalls, 503, "call limit reached", Some(30)),
        (CallError::Draining, 503, "server draining", Some(30)),
        (CallError::TooManyHops, 483, "too many hops", None),
        (CallError::Loop, 482, "loop detected", None),
        (CallError::MergedRequest, 482, "merged request", None),
        (
            CallError::SessionIntervalTooSmall,
            422,
            "session interval too small",
            None,
        ),
        (CallError::Cancelled, 487, "cancelled by caller", None),
        (
            CallError::RoutingTimeout,
            503,
            "routing did not decide in time",
            Some(30),
        ),
        (
            CallError::AgentGaveUp,
            486,
            "agent ended the call before answering",
            None,
        ),
        (CallError::NoSuchDialog, 481, "no such call", None),
        (CallError::RequestPending, 491, "re-INVITE in progress", None),
        (CallError::ReferRefused, 603, "transfer refused", None),
        (CallError::RelayTimeout, 408, "the other side did not answer", None),
    ];
    assert_every_variant("CallError", rows.iter().map(|r| call_index(&r.0)), 28);
    for (error, status, why, retry_after) in rows {
        let answer = call(&error, configured);
        assert_eq!(
            (answer.status, answer.phrase, answer.reason, answer.retry_after),
            (status, phrase(status), Some(why), retry_after),
            "{error:?}"
        );
        let min_se = matches!(error, CallError::SessionIntervalTooSmall).then_some(90);
        assert_eq!(answer.min_se, min_se, "{error:?}: Min-SE goes with the 422 only");
    }
}

#[test]
fn a_called_sides_server_error_or_challenge_becomes_the_failure_status() {
    for (answered, passed) in [
        (486, 486),
        (404, 404),
        (603, 603),
        (500, 503),
        (502, 503),
        (401, 503),
        (407, 503),
    ] {
        assert_eq!(
            call(&CallError::AgentRejected(answered), CONFIGURED).status,
            passed,
            "{answered}"
        );
        assert_eq!(
            call(&CallError::CarrierRejected(answered), CONFIGURED).status,
            passed,
            "{answered}"
        );
    }
}

#[test]
fn a_response_carries_the_reason_retry_after_and_min_se_of_its_answer() {
    let raw = "INVITE sip:+15551234567@sb SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
               From: <sip:a@b>;tag=1\r\nTo: <sip:+15551234567@sb>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
               Content-Length: 0\r\n\r\n";
    let invite = Message::parse(bytes::Bytes::from(raw)).unwrap();
    let busy = call(&CallError::TrunkRate(2), CONFIGURED).respond(&invite).build();
    assert_eq!(busy.status(), Some(503));
    assert_eq!(busy.reason(), Some(&b"Service Unavailable"[..]));
    assert_eq!(
        busy.header(HeaderName::Reason),
        Some(&b"SIP;cause=503;text=\"trunk call rate limit reached\""[..])
    );
    assert_eq!(busy.header(HeaderName::RetryAfter), Some(&b"2"[..]));
    let short = call(&CallError::SessionIntervalTooSmall, CONFIGURED)
        .respond(&invite)
        .build();
    assert_eq!(short.header(HeaderName::MinSe), Some(&b"90"[..]));
    let stranger = gate(&GateRefusal::Stranger).respond(&invite).build();
    assert_eq!(stranger.header(HeaderName::Reason), None);
}

fn parse_index(e: &ParseError) -> usize {
    match e {
        ParseError::TooLarge { .. } => 0,
        ParseError::TooManyHeaders { .. } => 1,
        ParseError::LineTooLong { .. } => 2,
        ParseError::Incomplete => 3,
        ParseError::BadStartLine => 4,
        ParseError::BadRequestUri => 5,
        ParseError::BadVersion => 6,
        ParseError::BadStatus => 7,
        ParseError::HeaderWithoutColon => 8,
        ParseError::BadHeaderName => 9,
        ParseError::BadHeader { .. } => 10,
        ParseError::MissingHeader { .. } => 11,
        ParseError::ContentLengthTooLarge { .. } => 12,
        ParseError::BadContentLength => 13,
    }
}

#[test]
fn every_parse_error_has_its_status_line_and_a_bad_status_line_none() {
    let bad = |phrase| Some((400, phrase));
    let rows = [
        (
            ParseError::TooLarge {
                size: 70_000,
                limit: 65_535,
            },
            Some((513, "Message Too Large")),
        ),
        (ParseError::TooManyHeaders { limit: 256 }, bad("Bad Request")),
        (ParseError::LineTooLong { limit: 8192 }, bad("Bad Request")),
        (ParseError::Incomplete, bad("Bad Request")),
        (ParseError::BadStartLine, bad("Bad Request")),
        (ParseError::BadRequestUri, bad("Bad Request (Request-URI)")),
        (ParseError::BadVersion, Some((505, "Version Not Supported"))),
        (ParseError::BadStatus, None),
        (ParseError::HeaderWithoutColon, bad("Bad Request (header line)")),
        (ParseError::BadHeaderName, bad("Bad Request (header line)")),
        (ParseError::BadHeader { header: "CSeq" }, bad("Bad Request (header)")),
        (ParseError::MissingHeader { header: "Via" }, bad("Bad Request (header)")),
        (
            ParseError::ContentLengthTooLarge {
                declared: 10,
                available: 2,
            },
            bad("Bad Request (Content-Length)"),
        ),
        (ParseError::BadContentLength, bad("Bad Request (Content-Length)")),
    ];
    assert_every_variant("ParseError", rows.iter().map(|r| parse_index(&r.0)), 14);
    for (error, expected) in rows {
        let answer = parse(&error);
        assert_eq!(answer.map(|a| (a.status, a.phrase)), expected, "{error:?}");
        assert!(
            answer.is_none_or(|a| a.reason.is_none() && a.retry_after.is_none()),
            "{error:?}"
        );
    }
}
