//! SIP methods (RFC 3261 §7.1 and the extensions we relay). Unknown methods are kept as
//! written: they are valid tokens a UAS answers with 501 (RFC 4475 §3.1.1.2).

use bytes::Bytes;

/// A request method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Prack,
    Update,
    Info,
    Refer,
    Subscribe,
    Notify,
    Publish,
    Message,
    /// Any other method token, as written (methods are case-sensitive, §7.1).
    Other(Bytes),
}

impl Method {
    /// Recognise a method token. `token` must already be a valid token.
    pub fn parse(token: &[u8]) -> Method {
        match token {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"OPTIONS" => Method::Options,
            b"REGISTER" => Method::Register,
            b"PRACK" => Method::Prack,
            b"UPDATE" => Method::Update,
            b"INFO" => Method::Info,
            b"REFER" => Method::Refer,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            b"MESSAGE" => Method::Message,
            other => Method::Other(Bytes::copy_from_slice(other)),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Method::Invite => b"INVITE",
            Method::Ack => b"ACK",
            Method::Bye => b"BYE",
            Method::Cancel => b"CANCEL",
            Method::Options => b"OPTIONS",
            Method::Register => b"REGISTER",
            Method::Prack => b"PRACK",
            Method::Update => b"UPDATE",
            Method::Info => b"INFO",
            Method::Refer => b"REFER",
            Method::Subscribe => b"SUBSCRIBE",
            Method::Notify => b"NOTIFY",
            Method::Publish => b"PUBLISH",
            Method::Message => b"MESSAGE",
            Method::Other(token) => token,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// RFC 3261 §25.1 `token` characters, as a table: this runs for every byte of every
/// header name.
static TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~');
        b += 1;
    }
    table
};

/// RFC 3261 §25.1 `token` characters.
#[inline]
pub fn is_token_char(b: u8) -> bool {
    TOKEN[b as usize]
}

pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|b| is_token_char(*b))
}
