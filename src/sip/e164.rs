//! E.164 normalisation of what carriers send as a dialed or calling number: `+15551234567`,
//! `15551234567`, `5551234567` (national, on a trunk whose country is +1), `tel:` and `sip:`
//! URIs, `;npdi` / `;rn=` parameters, and visual separators (RFC 3966 §5.1.1).

mod plan;

pub use plan::is_country_code;

/// The country calling code of an E.164 number (`"+442071838750"` -> `"44"`).
pub fn country_code(e164: &str) -> Option<&'static str> {
    leading_country_code(e164.strip_prefix('+')?)
}

/// The assigned country calling code a string of digits (no `+`) starts with.
pub fn leading_country_code(digits: &str) -> Option<&'static str> {
    plan::country_code(digits)
}

/// Why text written as a phone number (by an API client, in config) is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum E164Error {
    #[error("a phone number is required")]
    Empty,
    #[error(
        "{0:?} is not a phone number: digits only, with an optional leading + and the separators - . ( ) and space"
    )]
    NotDigits(String),
    #[error("{written:?}: write international numbers with a leading +, not an international prefix (+{rest})")]
    InternationalPrefix { written: String, rest: String },
    #[error("{written:?}: country calling codes never start with 0")]
    ZeroCountryCode { written: String },
    #[error("{written:?}: no country has calling code +{digits}")]
    UnknownCountry { written: String, digits: String },
    #[error("{written:?}: a +{country} number has {expected} digits after the country code, not {got}")]
    Length {
        written: String,
        country: &'static str,
        expected: String,
        got: usize,
    },
    #[error("{written:?}: an E.164 number has at most 15 digits")]
    TooLong { written: String },
    #[error("{written:?}: a +1 area code starts with a digit from 2 to 9")]
    AreaCode { written: String },
}

/// The E.164 form of a number as a person writes it, by the numbering plans' rules:
/// `+` and an assigned country code, then a national number of that country's length
/// (`+1`: a 10-digit number whose area code starts 2-9). Without `+` the number is national
/// in `default_country` (digits, e.g. `"1"`, `"44"`), its trunk prefix dropped
/// (`02071838750` in `44` is `+442071838750`); an international prefix (`00`, `011`) is
/// refused rather than guessed at. Separators `- . ( )` and spaces are ignored.
pub fn parse(written: &str, default_country: &str) -> Result<String, E164Error> {
    let text = written.trim();
    if text.is_empty() {
        return Err(E164Error::Empty);
    }
    let plus = text.starts_with('+');
    let mut digits = String::with_capacity(16);
    for c in text.chars().skip(usize::from(plus)) {
        match c {
            '0'..='9' if digits.len() > plan::MAX_DIGITS + 4 => return Err(E164Error::TooLong { written: clip(text) }),
            '0'..='9' => digits.push(c),
            '-' | '.' | '(' | ')' | ' ' => {}
            _ => return Err(E164Error::NotDigits(clip(text))),
        }
    }
    if digits.is_empty() {
        return Err(E164Error::NotDigits(clip(text)));
    }
    let international = if plus {
        digits
    } else {
        national(text, &digits, default_country)?
    };
    check(text, &international)?;
    Ok(format!("+{international}"))
}

/// Country code and national digits of a number written without `+`.
fn national(text: &str, digits: &str, country: &str) -> Result<String, E164Error> {
    for prefix in ["00", if country == "1" { "011" } else { "00" }] {
        if let Some(rest) = digits.strip_prefix(prefix) {
            return Err(E164Error::InternationalPrefix {
                written: clip(text),
                rest: rest.to_owned(),
            });
        }
    }
    Ok(format!("{country}{}", significant(digits, country)))
}

/// A national number's significant digits: its trunk prefix dropped (`02071838750` in `44`
/// is `2071838750`, `15551234567` in `1` is `5551234567`).
fn significant<'d>(digits: &'d str, country: &str) -> &'d str {
    let trunk = plan::trunk_prefix(country);
    let (min, max) = plan::national_lengths(country);
    match digits.strip_prefix(trunk) {
        // `15551234567` in the NANP: the trunk prefix, then ten digits. A number exactly
        // as long as the plan's without it keeps its leading digits.
        Some(rest) if !trunk.is_empty() && !(min..=max).contains(&digits.len()) => rest,
        Some(rest) if trunk == "0" => rest,
        _ => digits,
    }
}

/// An international number (digits after `+`) by its country's plan.
fn check(text: &str, digits: &str) -> Result<(), E164Error> {
    if digits.starts_with('0') {
        return Err(E164Error::ZeroCountryCode { written: clip(text) });
    }
    let country = plan::country_code(digits).ok_or_else(|| E164Error::UnknownCountry {
        written: clip(text),
        digits: digits.chars().take(3).collect(),
    })?;
    let national = &digits[country.len()..];
    let (min, max) = plan::national_lengths(country);
    let max = max.min(plan::MAX_DIGITS - country.len());
    if !(min..=max).contains(&national.len()) {
        return Err(E164Error::Length {
            written: clip(text),
            country,
            expected: if min == max {
                min.to_string()
            } else {
                format!("{min} to {max}")
            },
            got: national.len(),
        });
    }
    if country == "1" && national.starts_with(['0', '1']) {
        return Err(E164Error::AreaCode { written: clip(text) });
    }
    Ok(())
}

/// What an error quotes of the input: a 1.9 MB "number" is not echoed back whole.
fn clip(text: &str) -> String {
    match text.char_indices().nth(32) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// The E.164 form (`+` and 8 to 15 digits) of `dialed`, or `None` when it is not a phone
/// number. A number without `+` is national in `default_country` (digits, e.g. `"1"`,
/// `"44"`), its trunk prefix dropped as the numbering plan says.
pub fn normalise(dialed: &str, default_country: &str) -> Option<String> {
    normalise_bytes(dialed.as_bytes(), default_country)
}

/// [`normalise`] of bytes as received (a URI's user part): no text is made of them first,
/// and the one string made is the answer.
pub fn normalise_bytes(dialed: &[u8], default_country: &str) -> Option<String> {
    let mut s = dialed.trim_ascii();
    for scheme in [&b"tel:"[..], b"sip:", b"sips:"] {
        if s.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme)) {
            s = &s[scheme.len()..];
        }
    }
    // The user part only: no host, no parameters (`;npdi`, `;rn=`, `;phone-context=`).
    let end = s.iter().position(|b| matches!(b, b'@' | b';' | b'?'));
    let s = &s[..end.unwrap_or(s.len())];
    let plus = s.first() == Some(&b'+');
    // More digits than this cannot make 15, even after a trunk prefix is dropped.
    let mut digits = [0u8; plan::MAX_DIGITS + 4];
    let mut count = 0;
    for &c in &s[usize::from(plus)..] {
        match c {
            b'0'..=b'9' if count == digits.len() => return None,
            b'0'..=b'9' => {
                digits[count] = c;
                count += 1;
            }
            b'-' | b'.' | b'(' | b')' | b' ' => {}
            _ => return None,
        }
    }
    let digits = std::str::from_utf8(&digits[..count]).ok()?;
    let mut full = String::with_capacity(plan::MAX_DIGITS + 1);
    full.push('+');
    if plus {
        full.push_str(digits);
    } else {
        full.push_str(default_country);
        full.push_str(significant(digits, default_country));
    }
    (9..=plan::MAX_DIGITS + 1).contains(&full.len()).then_some(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_carriers_send_normalise_to_one_number() {
        for dialed in [
            "+15551234567",
            "15551234567",
            "5551234567",
            "tel:+1-555-123-4567",
            "+1 (555) 123.4567",
            "sip:+15551234567@carrier.example",
            "15551234567;npdi;rn=+15559990000",
        ] {
            assert_eq!(normalise(dialed, "1").as_deref(), Some("+15551234567"), "{dialed}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics() {
        for text in [
            "ø\u{1f600}Y",
            "tel",
            "sip:ü",
            "é",
            "+",
            "",
            "sips:+1555\u{0}1234567",
            "t\u{e9}l:+15551234567",
        ] {
            let _ = normalise(text, "1");
        }
    }

    #[test]
    fn parse_follows_the_numbering_plans() {
        for (written, country, e164) in [
            ("+15551234567", "1", "+15551234567"),
            ("(555) 123-4567", "1", "+15551234567"),
            ("1 555 123 4567", "1", "+15551234567"),
            ("+44 20 7183 8750", "1", "+442071838750"),
            ("020 7183 8750", "44", "+442071838750"),
            ("2071838750", "44", "+442071838750"),
            ("06 1234 5678", "39", "+390612345678"),
            ("+6831234", "1", "+6831234"),
        ] {
            assert_eq!(parse(written, country).as_deref(), Ok(e164), "{written} in {country}");
        }
    }

    #[test]
    fn parse_refuses_what_is_not_a_number_naming_why() {
        let refused = |written: &str, country: &str| parse(written, country).unwrap_err();
        assert!(matches!(refused("+0123456789", "1"), E164Error::ZeroCountryCode { .. }));
        assert!(matches!(
            refused("+12345678", "1"),
            E164Error::Length {
                country: "1",
                got: 7,
                ..
            }
        ));
        assert!(matches!(
            refused("00442071838750", "1"),
            E164Error::InternationalPrefix { .. }
        ));
        assert!(matches!(
            refused("00442071838750", "44"),
            E164Error::InternationalPrefix { .. }
        ));
        assert!(matches!(
            refused("011442071838750", "1"),
            E164Error::InternationalPrefix { .. }
        ));
        assert!(matches!(refused("+15551234567890", "1"), E164Error::Length { .. }));
        assert!(matches!(refused("+11234567890", "1"), E164Error::AreaCode { .. }));
        assert!(matches!(refused("+2821234567", "1"), E164Error::UnknownCountry { .. }));
        assert!(matches!(refused("agent-7", "1"), E164Error::NotDigits(_)));
        assert!(matches!(refused("  ", "1"), E164Error::Empty));
        let long = "1".repeat(2_000_000);
        let message = refused(&long, "1").to_string();
        assert!(message.len() < 200, "{}", message.len());
        assert!(refused("+12345678", "1").to_string().contains("10 digits"));
    }

    #[test]
    fn other_countries_and_non_numbers() {
        assert_eq!(normalise("+442071838750", "1").as_deref(), Some("+442071838750"));
        assert_eq!(normalise("2071838750", "44").as_deref(), Some("+442071838750"));
        assert_eq!(
            normalise("sip:02071838750@carrier", "44").as_deref(),
            Some("+442071838750"),
            "the trunk prefix 0 is dropped"
        );
        assert_eq!(
            normalise("0612345678", "39").as_deref(),
            Some("+390612345678"),
            "Italy keeps it"
        );
        assert_eq!(normalise("agent-7", "1"), None);
        assert_eq!(normalise("+1234", "1"), None);
        assert_eq!(normalise("+1234567890123456", "1"), None);
        assert_eq!(normalise(&"1".repeat(40), "1"), None, "too many digits for any number");
        assert_eq!(normalise("1 555 123 4567 ", "1").as_deref(), Some("+15551234567"));
    }

    #[test]
    fn bytes_as_received_normalise_like_text_and_other_bytes_are_no_number() {
        assert_eq!(normalise_bytes(b"5551234567", "1").as_deref(), Some("+15551234567"));
        assert_eq!(normalise_bytes(b"+1555\xff1234567", "1"), None);
        assert_eq!(normalise_bytes(b"\xe9", "1"), None);
    }
}
