//! CSeq (RFC 3261 §20.16): a sequence number below 2^31 and the method.

use super::error::ParseError;
use super::lex::{is_lws, trim};
use super::method::{is_token, Method};

/// A parsed CSeq value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

const BAD: ParseError = ParseError::BadHeader { header: "CSeq" };

impl CSeq {
    pub fn parse(value: &[u8]) -> Result<CSeq, ParseError> {
        let value = trim(value);
        let digits = value.iter().position(|b| !b.is_ascii_digit()).unwrap_or(value.len());
        // §8.1.1.5: the number MUST be less than 2^31; ten digits at most before we add.
        if digits == 0 || digits > 10 {
            return Err(BAD);
        }
        let seq = value[..digits]
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        if seq >= 1 << 31 {
            return Err(BAD);
        }
        let rest = &value[digits..];
        if rest.first().is_none_or(|b| !is_lws(*b)) {
            return Err(BAD);
        }
        let method = trim(rest);
        if !is_token(method) {
            return Err(BAD);
        }
        Ok(CSeq {
            seq: seq as u32,
            method: Method::parse(method),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folded_cseq_parses() {
        assert_eq!(
            CSeq::parse(b"0009\r\n  INVITE").unwrap(),
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
    }

    #[test]
    fn overflowing_or_malformed_sequence_numbers_are_refused() {
        assert!(CSeq::parse(b"36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse(b"2147483648 INVITE").is_err());
        assert!(CSeq::parse(b"INVITE").is_err());
        assert!(CSeq::parse(b"12INVITE").is_err());
        assert_eq!(CSeq::parse(b"2147483647 BYE").unwrap().seq, 2_147_483_647);
    }
}
