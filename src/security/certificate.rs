//! Client-certificate pins: a trunk's `tls_client_fingerprints` name the SHA-256 of the DER
//! certificates its carrier may present on a TLS connection.
//!
//! Owns the fingerprint (parsing what an operator types, hashing what a peer presented) and
//! the rule that a trunk which pins certificates claims a request only when it came with one
//! of them. Does not verify certificates: the TLS layer proves the peer holds the key, and
//! the pin is the trust; nor does it decide what a refused request is answered (the gate).

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};

/// The SHA-256 of a certificate's DER bytes. `Copy` and fixed-size, so it rides on every
/// message of a connection without an allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint([u8; 32]);

/// Why a configured fingerprint is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    #[error("{text:?} is not a SHA-256 fingerprint: it has {digits} hex digits, not 64")]
    Length { text: String, digits: usize },
    #[error("{text:?} is not a SHA-256 fingerprint: {found:?} is not a hex digit")]
    NotHex { text: String, found: char },
    #[error("{text:?} is not a SHA-256 fingerprint: colons must separate every pair of hex digits")]
    Colons { text: String },
}

impl CertFingerprint {
    /// The fingerprint of a certificate as it was presented (DER).
    pub fn of_der(der: &[u8]) -> CertFingerprint {
        CertFingerprint(Sha256::digest(der).into())
    }

    /// 64 hex digits in either case, bare or as 32 colon-separated pairs (as `openssl x509
    /// -fingerprint -sha256` prints them).
    pub fn parse(text: &str) -> Result<CertFingerprint, FingerprintError> {
        if let Some(found) = text.chars().find(|c| !c.is_ascii_hexdigit() && *c != ':') {
            return Err(FingerprintError::NotHex {
                text: text.to_owned(),
                found,
            });
        }
        let digits: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
        if digits.len() != 64 {
            return Err(FingerprintError::Length {
                text: text.to_owned(),
                digits: digits.len(),
            });
        }
        if text.contains(':') && !text.split(':').all(|pair| pair.len() == 2) {
            return Err(FingerprintError::Colons { text: text.to_owned() });
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        Ok(CertFingerprint(bytes))
    }
}

/// The stored form of a configured fingerprint: lower-case hex, no colons.
pub fn normalise_fingerprint(text: &str) -> Result<String, FingerprintError> {
    CertFingerprint::parse(text).map(|f| f.to_string())
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// One trunk's part in [`CertificatePins::build`].
#[derive(Debug, Clone, Copy)]
pub struct PinEntry<'a> {
    pub trunk: &'a str,
    pub fingerprints: &'a [String],
    /// The trunk lists source addresses, so a certificate alone does not name it.
    pub has_sources: bool,
}

/// Which trunks pin which certificates. Immutable once built: rebuild on a directory change.
#[derive(Debug, Clone, Default)]
pub struct CertificatePins {
    /// Trunk -> its pins, for the trunks that pin any (a handful each: a linear search).
    pinned: HashMap<String, Vec<CertFingerprint>>,
    /// Certificate -> the trunks that list no source address and pin it: the certificate
    /// alone names them, as an address names the others.
    by_certificate: HashMap<CertFingerprint, Vec<String>>,
}

/// The trunks a request is from by address and certificate, digest aside.
#[derive(Debug, PartialEq, Eq)]
pub struct Claims<'a> {
    pub trunks: Vec<&'a str>,
    /// A trunk would have claimed the request but for its certificate: it lists the address
    /// and pins another certificate, or a certificate came that no pin names.
    pub certificate_refused: bool,
}

impl CertificatePins {
    /// Bad fingerprints are returned, one error each, and left out. A trunk whose pins are
    /// all bad still pins: it claims nothing, rather than anything.
    pub fn build<'a>(
        entries: impl IntoIterator<Item = PinEntry<'a>>,
    ) -> (CertificatePins, Vec<(String, FingerprintError)>) {
        let mut pins = CertificatePins::default();
        let mut errors = Vec::new();
        for entry in entries.into_iter().filter(|e| !e.fingerprints.is_empty()) {
            let mut parsed = Vec::with_capacity(entry.fingerprints.len());
            for text in entry.fingerprints {
                match CertFingerprint::parse(text) {
                    Ok(fingerprint) => parsed.push(fingerprint),
                    Err(error) => errors.push((entry.trunk.to_owned(), error)),
                }
            }
            if !entry.has_sources {
                for fingerprint in &parsed {
                    pins.by_certificate
                        .entry(*fingerprint)
                        .or_default()
                        .push(entry.trunk.to_owned());
                }
            }
            pins.pinned.insert(entry.trunk.to_owned(), parsed);
        }
        (pins, errors)
    }

    /// Whether `trunk` takes a request that came with `presented`: a trunk that pins
    /// nothing takes any, with a certificate or without.
    pub fn admits(&self, trunk: &str, presented: Option<CertFingerprint>) -> bool {
        match self.pinned.get(trunk) {
            None => true,
            Some(pins) => presented.is_some_and(|p| pins.contains(&p)),
        }
    }

    /// Of the trunks that list the request's address (`by_source`), those whose pins it
    /// meets; and the trunks that list no address but pin its certificate. All that a trunk
    /// configures must hold: an address listed is not enough where a certificate is pinned.
    pub fn claims<'a>(&'a self, by_source: &'a [String], presented: Option<CertFingerprint>) -> Claims<'a> {
        let mut trunks: Vec<&str> = by_source
            .iter()
            .map(String::as_str)
            .filter(|t| self.admits(t, presented))
            .collect();
        let listed_but_refused = trunks.len() < by_source.len();
        let by_certificate = presented.and_then(|p| self.by_certificate.get(&p));
        trunks.extend(by_certificate.into_iter().flatten().map(String::as_str));
        let unknown_certificate = presented.is_some() && by_certificate.is_none() && !self.by_certificate.is_empty();
        Claims {
            certificate_refused: trunks.is_empty() && (listed_but_refused || unknown_certificate),
            trunks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "3f0a9c1e5b7d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a";

    #[test]
    fn fingerprints_are_read_bare_or_in_colon_pairs_and_stored_as_lower_case_hex() {
        let pairs: Vec<String> = HEX
            .to_ascii_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect();
        for (case, text) in [
            ("bare", HEX.to_owned()),
            ("upper case", HEX.to_ascii_uppercase()),
            ("colon pairs", pairs.join(":")),
        ] {
            assert_eq!(normalise_fingerprint(&text).as_deref(), Ok(HEX), "{case}");
        }
    }

    #[test]
    fn a_malformed_fingerprint_names_its_fault() {
        use FingerprintError::{Colons, Length, NotHex};
        let (short, long) = (HEX[..62].to_owned(), format!("{HEX}00"));
        let (letter, space) = (format!("{}g", &HEX[..63]), format!(" {}", &HEX[..63]));
        let colons = format!("{}:{}", &HEX[..3], &HEX[3..]);
        let table = [
            (
                "too short",
                Length {
                    text: short,
                    digits: 62,
                },
            ),
            ("too long", Length { text: long, digits: 66 }),
            (
                "not hex",
                NotHex {
                    text: letter,
                    found: 'g',
                },
            ),
            (
                "a space",
                NotHex {
                    text: space,
                    found: ' ',
                },
            ),
            ("colons out of step", Colons { text: colons }),
        ];
        for (case, expected) in table {
            let (Length { text, .. } | NotHex { text, .. } | Colons { text }) = &expected;
            let error = CertFingerprint::parse(text).unwrap_err();
            assert!(
                error.to_string().contains(text.as_str()),
                "{case}: the error quotes the input"
            );
            assert_eq!(error, expected, "{case}");
        }
    }

    #[test]
    fn a_presented_certificate_is_named_by_the_sha256_of_its_der_bytes() {
        // SHA-256 of the three bytes "abc" (FIPS 180-2 appendix B.1).
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(CertFingerprint::of_der(b"abc").to_string(), expected);
    }

    fn fp(seed: u8) -> CertFingerprint {
        CertFingerprint([seed; 32])
    }

    fn pins(entries: &[(&str, &[CertFingerprint], bool)]) -> CertificatePins {
        let texts: Vec<Vec<String>> = entries
            .iter()
            .map(|(_, fps, _)| fps.iter().map(|f| f.to_string()).collect())
            .collect();
        let (pins, errors) = CertificatePins::build(entries.iter().zip(&texts).map(
            |((trunk, _, has_sources), fps)| PinEntry {
                trunk,
                fingerprints: fps,
                has_sources: *has_sources,
            },
        ));
        assert!(errors.is_empty(), "{errors:?}");
        pins
    }

    #[test]
    fn a_trunk_that_lists_the_address_and_pins_a_certificate_needs_both() {
        let pins = pins(&[("trk_a", &[fp(1)], true), ("trk_plain", &[], true)]);
        let by_source = vec!["trk_a".to_owned(), "trk_plain".to_owned()];
        let claims = |presented| pins.claims(&by_source, presented).trunks;
        assert_eq!(claims(Some(fp(1))), ["trk_a", "trk_plain"]);
        assert_eq!(claims(Some(fp(2))), ["trk_plain"], "another certificate");
        assert_eq!(claims(None), ["trk_plain"], "no certificate");
        let only_a = vec!["trk_a".to_owned()];
        assert_eq!(
            pins.claims(&only_a, None),
            Claims {
                trunks: vec![],
                certificate_refused: true
            }
        );
    }

    #[test]
    fn a_trunk_that_lists_no_address_is_named_by_its_certificate_alone() {
        let pins = pins(&[("trk_cert", &[fp(1), fp(3)], false), ("trk_a", &[fp(1)], true)]);
        assert_eq!(pins.claims(&[], Some(fp(3))).trunks, ["trk_cert"]);
        assert_eq!(
            pins.claims(&[], Some(fp(1))).trunks,
            ["trk_cert"],
            "trk_a also needs its address"
        );
        let stranger = pins.claims(&[], Some(fp(9)));
        assert!(stranger.trunks.is_empty() && stranger.certificate_refused);
        let no_certificate = pins.claims(&[], None);
        assert!(
            no_certificate.trunks.is_empty() && !no_certificate.certificate_refused,
            "an address no trunk lists, and no certificate: a plain stranger"
        );
    }

    #[test]
    fn a_trunk_whose_pins_are_all_malformed_claims_nothing() {
        let bad = vec!["not-a-fingerprint".to_owned()];
        let (pins, errors) = CertificatePins::build([PinEntry {
            trunk: "trk_a",
            fingerprints: &bad,
            has_sources: true,
        }]);
        assert_eq!(errors.len(), 1);
        assert!(!pins.admits("trk_a", Some(fp(1))) && !pins.admits("trk_a", None));
        assert!(pins.admits("trk_other", None), "a trunk that pins nothing");
    }
}
