//! Header names (RFC 3261 §7.3, §20): the ones we read by type, compact forms (§7.3.3) mapped
//! to their full names, everything else kept as written. Matching is case-insensitive and
//! allocation-free.

/// A header name. `Other` covers every header we only carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    Accept,
    AcceptContact,
    Allow,
    Authorization,
    CallId,
    Contact,
    ContentEncoding,
    ContentLength,
    ContentType,
    CSeq,
    Diversion,
    Event,
    From,
    HistoryInfo,
    Identity,
    MaxForwards,
    MinSe,
    PAssertedIdentity,
    Privacy,
    ProxyAuthenticate,
    ProxyAuthorization,
    ProxyRequire,
    RAck,
    Reason,
    RecordRoute,
    ReferTo,
    ReferredBy,
    RejectContact,
    RemotePartyId,
    Replaces,
    RequestDisposition,
    Require,
    RetryAfter,
    Route,
    RSeq,
    Server,
    SessionExpires,
    Subject,
    Supported,
    To,
    Unsupported,
    UserAgent,
    UserToUser,
    Via,
    WwwAuthenticate,
    /// Any other header; its name is kept as written in the message.
    Other,
}

impl HeaderName {
    /// Recognise a header name as written (full or compact form, any case).
    pub fn parse(name: &[u8]) -> HeaderName {
        use HeaderName::*;
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
                b'a' => AcceptContact,
                b'b' => ReferredBy,
                b'c' => ContentType,
                b'd' => RequestDisposition,
                b'e' => ContentEncoding,
                b'f' => From,
                b'i' => CallId,
                b'j' => RejectContact,
                b'k' => Supported,
                b'l' => ContentLength,
                b'm' => Contact,
                b'o' => Event,
                b'r' => ReferTo,
                b's' => Subject,
                b't' => To,
                b'v' => Via,
                b'x' => SessionExpires,
                _ => Other,
            };
        }
        // Fold case into a small stack buffer (every known name is letters and '-', for
        // which `| 0x20` is lowercase), then let the compiler's slice match do the rest.
        let mut folded = [0u8; 20];
        let Some(buf) = folded.get_mut(..name.len()) else {
            return Other;
        };
        for (f, b) in buf.iter_mut().zip(name) {
            *f = b | 0x20;
        }
        match &*buf {
            b"to" => To,
            b"via" => Via,
            b"from" => From,
            b"cseq" => CSeq,
            b"rack" => RAck,
            b"rseq" => RSeq,
            b"allow" => Allow,
            b"route" => Route,
            b"event" => Event,
            b"accept" => Accept,
            b"reason" => Reason,
            b"server" => Server,
            b"min-se" => MinSe,
            b"call-id" => CallId,
            b"contact" => Contact,
            b"require" => Require,
            b"subject" => Subject,
            b"privacy" => Privacy,
            b"refer-to" => ReferTo,
            b"identity" => Identity,
            b"replaces" => Replaces,
            b"supported" => Supported,
            b"diversion" => Diversion,
            b"user-agent" => UserAgent,
            b"retry-after" => RetryAfter,
            b"referred-by" => ReferredBy,
            b"unsupported" => Unsupported,
            b"max-forwards" => MaxForwards,
            b"content-type" => ContentType,
            b"record-route" => RecordRoute,
            b"history-info" => HistoryInfo,
            b"user-to-user" => UserToUser,
            b"authorization" => Authorization,
            b"proxy-require" => ProxyRequire,
            b"content-length" => ContentLength,
            b"accept-contact" => AcceptContact,
            b"reject-contact" => RejectContact,
            b"session-expires" => SessionExpires,
            b"remote-party-id" => RemotePartyId,
            b"content-encoding" => ContentEncoding,
            b"www-authenticate" => WwwAuthenticate,
            b"proxy-authenticate" => ProxyAuthenticate,
            b"proxy-authorization" => ProxyAuthorization,
            b"p-asserted-identity" => PAssertedIdentity,
            b"request-disposition" => RequestDisposition,
            _ => Other,
        }
    }

    /// The canonical full name, for headers we write.
    pub fn as_str(self) -> &'static str {
        use HeaderName::*;
        match self {
            Accept => "Accept",
            AcceptContact => "Accept-Contact",
            Allow => "Allow",
            Authorization => "Authorization",
            CallId => "Call-ID",
            Contact => "Contact",
            ContentEncoding => "Content-Encoding",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            CSeq => "CSeq",
            Diversion => "Diversion",
            Event => "Event",
            From => "From",
            HistoryInfo => "History-Info",
            Identity => "Identity",
            MaxForwards => "Max-Forwards",
            MinSe => "Min-SE",
            PAssertedIdentity => "P-Asserted-Identity",
            Privacy => "Privacy",
            ProxyAuthenticate => "Proxy-Authenticate",
            ProxyAuthorization => "Proxy-Authorization",
            ProxyRequire => "Proxy-Require",
            RAck => "RAck",
            Reason => "Reason",
            RecordRoute => "Record-Route",
            ReferTo => "Refer-To",
            ReferredBy => "Referred-By",
            RejectContact => "Reject-Contact",
            RemotePartyId => "Remote-Party-ID",
            Replaces => "Replaces",
            RequestDisposition => "Request-Disposition",
            Require => "Require",
            RetryAfter => "Retry-After",
            Route => "Route",
            RSeq => "RSeq",
            Server => "Server",
            SessionExpires => "Session-Expires",
            Subject => "Subject",
            Supported => "Supported",
            To => "To",
            Unsupported => "Unsupported",
            UserAgent => "User-Agent",
            UserToUser => "User-to-User",
            Via => "Via",
            WwwAuthenticate => "WWW-Authenticate",
            Other => "",
        }
    }

    /// Headers whose values are comma-separated lists (RFC 3261 §7.3.1), so that several
    /// values may share one line.
    pub fn is_list(self) -> bool {
        use HeaderName::*;
        matches!(
            self,
            Via | Route
                | RecordRoute
                | Contact
                | Allow
                | Supported
                | Require
                | ProxyRequire
                | Unsupported
                | Accept
                | Diversion
                | HistoryInfo
                | PAssertedIdentity
                | Privacy
                | Reason
                | ContentEncoding
        )
    }

    /// Headers that may appear at most once (RFC 3261 §20; RFC 4475 §3.3.8, §3.3.9).
    pub fn is_single(self) -> bool {
        use HeaderName::*;
        matches!(
            self,
            To | From | CallId | CSeq | MaxForwards | ContentLength | ContentType
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_full_forms_name_the_same_header_in_any_case() {
        for (written, expected) in [
            (&b"v"[..], HeaderName::Via),
            (b"VIA", HeaderName::Via),
            (b"i", HeaderName::CallId),
            (b"cAlL-iD", HeaderName::CallId),
            (b"l", HeaderName::ContentLength),
            (b"m", HeaderName::Contact),
            (b"k", HeaderName::Supported),
            (b"x", HeaderName::SessionExpires),
            (b"P-Asserted-Identity", HeaderName::PAssertedIdentity),
            (b"Remote-Party-ID", HeaderName::RemotePartyId),
            (b"X-Custom", HeaderName::Other),
            (b"q", HeaderName::Other),
        ] {
            assert_eq!(
                HeaderName::parse(written),
                expected,
                "{}",
                String::from_utf8_lossy(written)
            );
        }
    }

    #[test]
    fn every_known_name_round_trips_through_its_canonical_text() {
        use HeaderName::*;
        for name in [
            Accept,
            AcceptContact,
            Allow,
            Authorization,
            CallId,
            Contact,
            ContentEncoding,
            ContentLength,
            ContentType,
            CSeq,
            Diversion,
            Event,
            From,
            HistoryInfo,
            Identity,
            MaxForwards,
            MinSe,
            PAssertedIdentity,
            Privacy,
            ProxyAuthenticate,
            ProxyAuthorization,
            ProxyRequire,
            RAck,
            Reason,
            RecordRoute,
            ReferTo,
            ReferredBy,
            RejectContact,
            RemotePartyId,
            Replaces,
            RequestDisposition,
            Require,
            RetryAfter,
            Route,
            RSeq,
            Server,
            SessionExpires,
            Subject,
            Supported,
            To,
            Unsupported,
            UserAgent,
            UserToUser,
            Via,
            WwwAuthenticate,
        ] {
            assert_eq!(HeaderName::parse(name.as_str().as_bytes()), name, "{}", name.as_str());
        }
    }
}
