//! A trunk's `media_encryption` against the agent's SDP offer (RFC 4566), checked before
//! any carrier is called. `SRTP`: every active media stream must be offered as SRTP with
//! SDES keys (RFC 3711 `RTP/SAVP` or `RTP/SAVPF`, RFC 4568 `a=crypto`), and an offer must
//! be there to check. `NONE`: an offer with active streams must have a plain RTP one
//! (`RTP/AVP` or `RTP/AVPF`), since the carrier will not do SRTP; an INVITE without an
//! offer passes.
//!
//! It reads the SDP and never rewrites it: switchboard relays media descriptions as sent.

use crate::directory::model::MediaEncryption;

/// Why an offer does not fit the trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("the trunk requires SRTP and the INVITE carries no SDP offer")]
    NoOffer,
    #[error("the trunk requires SRTP (RTP/SAVP with a=crypto) and the offer has a stream without it")]
    SrtpRequired,
    #[error("the trunk does not do SRTP and the offer has no plain RTP stream")]
    SrtpNotSupported,
}

/// Check an INVITE's body against the trunk's media encryption.
pub fn check_offer(content_type: Option<&[u8]>, body: &[u8], required: MediaEncryption) -> Result<(), MediaError> {
    let is_sdp = content_type.is_some_and(|ct| {
        let media = ct.split(|b| *b == b';').next().unwrap_or_default();
        media.trim_ascii().eq_ignore_ascii_case(b"application/sdp")
    });
    if !is_sdp || body.is_empty() {
        return match required {
            MediaEncryption::None => Ok(()),
            MediaEncryption::Srtp => Err(MediaError::NoOffer),
        };
    }
    let streams = streams(body);
    let active: Vec<&Stream> = streams.iter().filter(|s| s.port != b"0").collect();
    match required {
        MediaEncryption::Srtp if !active.is_empty() && active.iter().all(|s| s.is_sdes_srtp()) => Ok(()),
        MediaEncryption::Srtp => Err(MediaError::SrtpRequired),
        MediaEncryption::None if active.is_empty() || active.iter().any(|s| s.is_plain_rtp()) => Ok(()),
        MediaEncryption::None => Err(MediaError::SrtpNotSupported),
    }
}

/// One `m=` section: its port, transport protocol, and whether it carries `a=crypto`.
#[derive(Debug)]
struct Stream<'a> {
    port: &'a [u8],
    proto: &'a [u8],
    crypto: bool,
}

impl Stream<'_> {
    fn is_sdes_srtp(&self) -> bool {
        self.crypto && (self.proto.eq_ignore_ascii_case(b"RTP/SAVP") || self.proto.eq_ignore_ascii_case(b"RTP/SAVPF"))
    }

    fn is_plain_rtp(&self) -> bool {
        self.proto.eq_ignore_ascii_case(b"RTP/AVP") || self.proto.eq_ignore_ascii_case(b"RTP/AVPF")
    }
}

fn streams(sdp: &[u8]) -> Vec<Stream<'_>> {
    let mut streams: Vec<Stream<'_>> = Vec::new();
    for line in sdp.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(media) = line.strip_prefix(b"m=") {
            let mut fields = media.split(|b| *b == b' ').filter(|f| !f.is_empty());
            let (_, port, proto) = (fields.next(), fields.next(), fields.next());
            // `port/count` (RFC 4566 §5.14): only the port says whether the stream is active.
            let port = port.unwrap_or(b"0");
            let port = port.split(|b| *b == b'/').next().unwrap_or(port);
            streams.push(Stream {
                port,
                proto: proto.unwrap_or_default(),
                crypto: false,
            });
        } else if line.starts_with(b"a=crypto:") {
            if let Some(stream) = streams.last_mut() {
                stream.crypto = true;
            }
        }
    }
    streams
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: Option<&[u8]> = Some(b"application/sdp");
    const PLAIN: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
        m=audio 40000 RTP/AVP 0 8\r\na=sendrecv\r\n";
    const SRTP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
        m=audio 40000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n";
    const SAVP_NO_KEYS: &[u8] = b"v=0\r\ns=-\r\nm=audio 40000 RTP/SAVP 0\r\n";

    #[test]
    fn an_srtp_trunk_takes_only_savp_offers_with_keys() {
        assert_eq!(check_offer(SDP, SRTP, MediaEncryption::Srtp), Ok(()));
        assert_eq!(
            check_offer(SDP, PLAIN, MediaEncryption::Srtp),
            Err(MediaError::SrtpRequired)
        );
        assert_eq!(
            check_offer(SDP, SAVP_NO_KEYS, MediaEncryption::Srtp),
            Err(MediaError::SrtpRequired),
            "RTP/SAVP without a=crypto has no keys to use"
        );
        assert_eq!(check_offer(None, b"", MediaEncryption::Srtp), Err(MediaError::NoOffer));
    }

    #[test]
    fn a_plain_trunk_takes_plain_rtp_and_refuses_srtp_only_offers() {
        assert_eq!(check_offer(SDP, PLAIN, MediaEncryption::None), Ok(()));
        assert_eq!(
            check_offer(SDP, SRTP, MediaEncryption::None),
            Err(MediaError::SrtpNotSupported)
        );
        assert_eq!(
            check_offer(None, b"", MediaEncryption::None),
            Ok(()),
            "a late offer is not checked"
        );
    }

    #[test]
    fn disabled_streams_do_not_count_and_parameters_of_the_content_type_are_ignored() {
        let mixed = b"v=0\r\ns=-\r\nm=video 0 RTP/AVP 96\r\nm=audio 40000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n";
        assert_eq!(
            check_offer(Some(b"Application/SDP; charset=utf-8"), mixed, MediaEncryption::Srtp),
            Ok(())
        );
    }
}
