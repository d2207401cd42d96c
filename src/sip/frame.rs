//! Stream framing (RFC 3261 §18.3): on TCP and TLS a message ends where its Content-Length
//! says, and Content-Length is mandatory. Between messages, CRLF CRLF is a keep-alive ping
//! and a lone CRLF its pong (RFC 5626 §3.5.1). A missing, malformed or oversized length is
//! an error: the stream cannot be resynchronised, so the shell closes the connection.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem;

use super::header::HeaderName;
use super::lex::trim;

/// One unit read off a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole message, for `Message::parse`.
    Message(Bytes),
    /// CRLF CRLF: answer with a single CRLF.
    Ping,
    /// A lone CRLF: the answer to our ping.
    Pong,
}

/// Why a stream can no longer be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message headers exceed {limit} bytes without an end")]
    HeadersTooLong { limit: usize },
    #[error("message without Content-Length on a stream")]
    MissingContentLength,
    #[error("malformed Content-Length")]
    BadContentLength,
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
}

/// Accumulates stream bytes and cuts them into frames.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    max_message: usize,
}

impl StreamFramer {
    pub fn new(max_message: usize) -> StreamFramer {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
            max_message,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes held that are not yet a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.advance(4);
            return Ok(Some(Frame::Ping));
        }
        if self.buf.starts_with(b"\r\n") {
            if self.buf.len() < 4 && b"\r\n\r\n".starts_with(&self.buf[..]) && self.buf.len() > 2 {
                return Ok(None);
            }
            if self.buf.len() == 2 || !self.buf[2..].starts_with(b"\r") {
                self.buf.advance(2);
                return Ok(Some(Frame::Pong));
            }
            return Ok(None);
        }
        let Some(header_end) = memmem::find(&self.buf, b"\r\n\r\n") else {
            if self.buf.len() > self.max_message {
                return Err(FrameError::HeadersTooLong {
                    limit: self.max_message,
                });
            }
            return Ok(None);
        };
        let body_start = header_end + 4;
        let length = content_length(&self.buf[..header_end])?;
        let size = body_start + length;
        if size > self.max_message {
            return Err(FrameError::TooLarge {
                size,
                limit: self.max_message,
            });
        }
        if self.buf.len() < size {
            return Ok(None);
        }
        Ok(Some(Frame::Message(self.buf.split_to(size).freeze())))
    }
}

/// The Content-Length of a header block; several must agree.
fn content_length(headers: &[u8]) -> Result<usize, FrameError> {
    let mut found = None;
    for line in headers.split(|b| *b == b'\n').skip(1) {
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        if HeaderName::parse(trim(&line[..colon])) != HeaderName::ContentLength {
            continue;
        }
        let value = trim(&line[colon + 1..]);
        if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
            return Err(FrameError::BadContentLength);
        }
        let length = value.iter().fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'));
        if found.is_some_and(|f| f != length) {
            return Err(FrameError::BadContentLength);
        }
        found = Some(length);
    }
    found.ok_or(FrameError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nabcd";

    #[test]
    fn messages_split_at_content_length_across_arbitrary_reads() {
        let mut framer = StreamFramer::new(4096);
        let mut stream = MSG.to_vec();
        stream.extend_from_slice(MSG);
        let mut frames = Vec::new();
        for chunk in stream.chunks(7) {
            framer.push(chunk);
            while let Some(frame) = framer.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(
            frames,
            vec![
                Frame::Message(Bytes::from_static(MSG)),
                Frame::Message(Bytes::from_static(MSG))
            ]
        );
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn double_crlf_is_a_ping_and_single_crlf_a_pong() {
        let mut framer = StreamFramer::new(4096);
        framer.push(b"\r\n\r\n");
        assert_eq!(framer.next_frame().unwrap(), Some(Frame::Ping));
        framer.push(b"\r\n");
        assert_eq!(framer.next_frame().unwrap(), Some(Frame::Pong));
        framer.push(MSG);
        assert!(matches!(framer.next_frame().unwrap(), Some(Frame::Message(_))));
    }

    #[test]
    fn missing_negative_or_oversized_lengths_are_errors() {
        let mut framer = StreamFramer::new(4096);
        framer.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(framer.next_frame(), Err(FrameError::MissingContentLength));
        let mut framer = StreamFramer::new(4096);
        framer.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -5\r\n\r\n");
        assert_eq!(framer.next_frame(), Err(FrameError::BadContentLength));
        let mut framer = StreamFramer::new(200);
        framer.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 999\r\n\r\n");
        assert!(matches!(framer.next_frame(), Err(FrameError::TooLarge { .. })));
        let mut framer = StreamFramer::new(64);
        framer.push(&[b'a'; 100]);
        assert!(matches!(framer.next_frame(), Err(FrameError::HeadersTooLong { .. })));
    }
}
