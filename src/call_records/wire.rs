//! A finished call as bytes, on its way from the call path to the writer. The recorder
//! appends each call to one buffer under a short lock; the writer swaps the whole buffer
//! for an empty one at each flush and reads the calls back borrowed from it. A record so
//! costs no allocation on either thread, and a call's own strings are freed where they were
//! allocated, on the call path, as when records are off. (Handing them to the writer to
//! free sent the call path's later allocations through glibc's slow paths: measured at
//! about 2 µs a call.)
//!
//! Layout, little-endian: `invite_ms`, `ringing_ms`, `answered_ms`, `ended_ms` (i64, `NONE`
//! when unset), `status` (u16), the source address (u8 4 or 6, 16 address bytes, u16 port),
//! the lengths of the Call-ID and of the eleven strings after it in `Call` (u32 each,
//! `ABSENT` when unset), the Call-ID's bytes, then the strings' bytes one after another: they
//! were all `&str`, so together they are UTF-8 and the writer checks them once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One finished call, borrowed from whatever holds it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Call<'a> {
    /// Unix milliseconds.
    pub invite_ms: i64,
    pub ringing_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub ended_ms: i64,
    pub status: u16,
    /// Where the INVITE came from (attributes a refused call to a trunk).
    pub source: SocketAddr,
    /// Bytes: a Call-ID need not be UTF-8.
    pub call_id: &'a [u8],
    pub livekit_call_id: Option<&'a str>,
    pub called: Option<&'a str>,
    pub caller: Option<&'a str>,
    /// Set when an agent was chosen, with the three after it.
    pub org_id: Option<&'a str>,
    pub trunk_id: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub agent_version_id: Option<&'a str>,
    pub direction: &'a str,
    pub route_kind: &'a str,
    pub reason: &'a str,
    pub outcome: &'a str,
    pub ended_by: &'a str,
}

const NONE: i64 = i64::MIN;
const ABSENT: u32 = u32::MAX;

/// Appends `call` to `out`.
pub(super) fn encode(call: &Call<'_>, out: &mut Vec<u8>) {
    for ms in [
        call.invite_ms,
        call.ringing_ms.unwrap_or(NONE),
        call.answered_ms.unwrap_or(NONE),
        call.ended_ms,
    ] {
        out.extend_from_slice(&ms.to_le_bytes());
    }
    out.extend_from_slice(&call.status.to_le_bytes());
    let (family, address) = match call.source.ip() {
        IpAddr::V4(v4) => (4u8, v4.to_ipv6_mapped().octets()),
        IpAddr::V6(v6) => (6u8, v6.octets()),
    };
    out.push(family);
    out.extend_from_slice(&address);
    out.extend_from_slice(&call.source.port().to_le_bytes());
    let strings = strings(call);
    let length = |s: Option<&[u8]>| s.map_or(ABSENT, |s| s.len() as u32);
    out.extend_from_slice(&length(Some(call.call_id)).to_le_bytes());
    for s in strings {
        out.extend_from_slice(&length(s.map(str::as_bytes)).to_le_bytes());
    }
    out.extend_from_slice(call.call_id);
    for s in strings.into_iter().flatten() {
        out.extend_from_slice(s.as_bytes());
    }
}

/// A call's strings after its Call-ID, in order.
fn strings<'a>(call: &Call<'a>) -> [Option<&'a str>; STRINGS] {
    [
        call.called,
        call.caller,
        call.org_id,
        call.trunk_id,
        call.agent_id,
        call.agent_version_id,
        Some(call.direction),
        Some(call.route_kind),
        Some(call.reason),
        Some(call.outcome),
        Some(call.ended_by),
        call.livekit_call_id,
    ]
}

const STRINGS: usize = 12;

/// The calls in `bytes`, in the order they were encoded. Stops at anything that does not
/// read as a call (nothing but `encode` writes the buffer, so only a bug would leave one).
pub(super) fn decode(bytes: &[u8]) -> Calls<'_> {
    Calls { rest: bytes }
}

pub(super) struct Calls<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Calls<'a> {
    type Item = Call<'a>;

    fn next(&mut self) -> Option<Call<'a>> {
        let mut r = Reader { rest: self.rest };
        let call = r.call();
        self.rest = if call.is_some() { r.rest } else { &[] };
        call
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn call(&mut self) -> Option<Call<'a>> {
        let invite_ms = self.i64()?;
        let ringing_ms = Some(self.i64()?).filter(|ms| *ms != NONE);
        let answered_ms = Some(self.i64()?).filter(|ms| *ms != NONE);
        let ended_ms = self.i64()?;
        let status = u16::from_le_bytes(self.array()?);
        let family = self.array::<1>()?[0];
        let address = Ipv6Addr::from(self.array::<16>()?);
        let port = u16::from_le_bytes(self.array()?);
        let ip = match family {
            4 => IpAddr::V4(address.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
            _ => IpAddr::V6(address),
        };
        let call_id_len = self.array().map(u32::from_le_bytes)?;
        let mut lengths = [ABSENT; STRINGS];
        for length in &mut lengths {
            *length = u32::from_le_bytes(self.array()?);
        }
        let call_id = self.take(call_id_len as usize)?;
        let total = lengths.iter().filter(|l| **l != ABSENT).map(|l| *l as usize).sum();
        let text = std::str::from_utf8(self.take(total)?).ok()?;
        let mut at = 0;
        let mut strings = lengths.map(|length| {
            if length == ABSENT {
                return Some(None);
            }
            let s = text.get(at..at + length as usize)?;
            at += length as usize;
            Some(Some(s))
        });
        let mut next = |i: usize| strings[i].take();
        Some(Call {
            invite_ms,
            ringing_ms,
            answered_ms,
            ended_ms,
            status,
            source: SocketAddr::new(ip, port),
            call_id,
            called: next(0)?,
            caller: next(1)?,
            org_id: next(2)?,
            trunk_id: next(3)?,
            agent_id: next(4)?,
            agent_version_id: next(5)?,
            direction: next(6)??,
            route_kind: next(7)??,
            reason: next(8)??,
            outcome: next(9)??,
            ended_by: next(10)??,
            livekit_call_id: next(11)?,
        })
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*head)
    }

    fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.rest.split_at_checked(len)?;
        self.rest = rest;
        Some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered() -> Call<'static> {
        Call {
            invite_ms: 1_733_400_000_123,
            ringing_ms: Some(1_733_400_000_150),
            answered_ms: Some(1_733_400_001_000),
            ended_ms: 1_733_400_031_000,
            status: 200,
            source: "192.0.2.10:5060".parse().unwrap(),
            call_id: b"a84b4c76e66710@pc33.atlanta.example.com",
            livekit_call_id: Some("5f1e0c2a9b7d4e31@switchboard"),
            called: Some("+15551234567"),
            caller: Some("+14155550100"),
            org_id: Some("org-1"),
            trunk_id: Some("trunk-1"),
            agent_id: Some("0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11"),
            agent_version_id: Some("7d2c9a10-3b4e-4f5a-8c6d-1e2f3a4b5c6d"),
            direction: "inbound",
            route_kind: "static",
            reason: "OK",
            outcome: "answered",
            ended_by: "caller",
        }
    }

    fn refused() -> Call<'static> {
        Call {
            invite_ms: 5,
            ringing_ms: None,
            answered_ms: None,
            ended_ms: 6,
            status: 404,
            source: "[2001:db8::1]:5080".parse().unwrap(),
            call_id: b"\xff\xfe not UTF-8",
            livekit_call_id: None,
            called: None,
            caller: Some(""),
            org_id: None,
            trunk_id: None,
            agent_id: None,
            agent_version_id: None,
            direction: "inbound",
            route_kind: "rejected",
            reason: "Not Found",
            outcome: "unknown_number",
            ended_by: "switchboard",
        }
    }

    #[test]
    fn calls_come_back_as_they_went_in_and_in_order() {
        let mut buffer = Vec::new();
        let calls = [answered(), refused(), answered()];
        for call in &calls {
            encode(call, &mut buffer);
        }
        assert_eq!(decode(&buffer).collect::<Vec<_>>(), calls);
    }

    #[test]
    fn a_cut_buffer_yields_the_whole_calls_before_the_cut() {
        let mut buffer = Vec::new();
        encode(&answered(), &mut buffer);
        let one = buffer.len();
        encode(&refused(), &mut buffer);
        for cut in [one, one + 1, one + 40, buffer.len() - 1] {
            assert_eq!(
                decode(&buffer[..cut]).collect::<Vec<_>>(),
                vec![answered()],
                "cut at {cut}"
            );
        }
        assert_eq!(decode(&[]).count(), 0);
    }
}
