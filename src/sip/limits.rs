//! Size limits, checked before anything is allocated for a message.

/// Bounds on what the parser accepts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest whole message (start line, headers and body).
    pub max_message: usize,
    /// Most header lines in one message.
    pub max_headers: usize,
    /// Longest single line (a header with its folded continuations counts as one).
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message: 65_535,
            max_headers: 128,
            max_line: 8_192,
        }
    }
}
