//! What can be wrong with a message. The status each fault gets (or none: responses are
//! never answered) is in the one status table, `src/status.rs`.

/// Why a message was refused by the parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("more than {limit} header lines")]
    TooManyHeaders { limit: usize },
    #[error("a line exceeds {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("no end of headers (CRLF CRLF)")]
    Incomplete,
    #[error("malformed start line")]
    BadStartLine,
    #[error("malformed request-URI")]
    BadRequestUri,
    #[error("unsupported SIP version")]
    BadVersion,
    #[error("status code out of range")]
    BadStatus,
    #[error("header line without a colon")]
    HeaderWithoutColon,
    #[error("header name is not a token")]
    BadHeaderName,
    #[error("malformed {header} header")]
    BadHeader { header: &'static str },
    #[error("missing {header} header")]
    MissingHeader { header: &'static str },
    #[error("Content-Length {declared} exceeds the {available} bytes of body received")]
    ContentLengthTooLarge { declared: usize, available: usize },
    #[error("malformed Content-Length")]
    BadContentLength,
}

impl ParseError {
    /// A low-cardinality label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ParseError::TooLarge { .. } => "too_large",
            ParseError::TooManyHeaders { .. } => "too_many_headers",
            ParseError::LineTooLong { .. } => "line_too_long",
            ParseError::Incomplete => "incomplete",
            ParseError::BadStartLine => "start_line",
            ParseError::BadRequestUri => "request_uri",
            ParseError::BadVersion => "version",
            ParseError::BadStatus => "status",
            ParseError::HeaderWithoutColon | ParseError::BadHeaderName => "header_line",
            ParseError::BadHeader { .. } => "header_value",
            ParseError::MissingHeader { .. } => "missing_header",
            ParseError::ContentLengthTooLarge { .. } | ParseError::BadContentLength => "content_length",
        }
    }
}
