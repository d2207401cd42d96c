//! E.164 normalisation of what carriers send as a dialed or calling number: `+15551234567`,
//! `15551234567`, `5551234567` (national, on a trunk whose country is +1), `tel:` and `sip:`
//! URIs, `;npdi` / `;rn=` parameters, and visual separators (RFC 3966 §5.1.1).

/// The E.164 form (`+` and 8 to 15 digits) of `dialed`, or `None` when it is not a phone
/// number. `default_country` (digits, e.g. `"1"`) applies to numbers without a `+`.
pub fn normalise(dialed: &str, default_country: &str) -> Option<String> {
    let mut s = dialed.trim();
    for scheme in ["tel:", "sip:", "sips:"] {
        // Byte-wise: the input is untrusted and may not have a char boundary there.
        if s.as_bytes()
            .get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme.as_bytes()))
        {
            s = &s[scheme.len()..];
        }
    }
    // The user part only: no host, no parameters (`;npdi`, `;rn=`, `;phone-context=`).
    let s = s.split(['@', ';', '?']).next().unwrap_or("");
    let plus = s.starts_with('+');
    let mut digits = String::with_capacity(16);
    for c in s.chars().skip(usize::from(plus)) {
        match c {
            '0'..='9' => digits.push(c),
            '-' | '.' | '(' | ')' | ' ' => {}
            _ => return None,
        }
    }
    let national_with_trunk_prefix = default_country == "1" && digits.len() == 11 && digits.starts_with('1');
    let full = if plus || national_with_trunk_prefix {
        digits
    } else {
        format!("{default_country}{digits}")
    };
    (8..=15).contains(&full.len()).then(|| format!("+{full}"))
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
    fn other_countries_and_non_numbers() {
        assert_eq!(normalise("+442071838750", "1").as_deref(), Some("+442071838750"));
        assert_eq!(normalise("2071838750", "44").as_deref(), Some("+442071838750"));
        assert_eq!(normalise("agent-7", "1"), None);
        assert_eq!(normalise("+1234", "1"), None);
        assert_eq!(normalise("+1234567890123456", "1"), None);
    }
}
