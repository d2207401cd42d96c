//! Which country an E.164 number belongs to, for the "international" rule: its ITU-T E.164
//! country code (1, 2 or 3 digits; the codes are prefix-free, so the length follows from
//! the leading digits, looked up in `sip::e164`'s one list of assigned codes), except inside the North American Numbering Plan (+1), where the
//! countries other than the United States and Canada share the code but are international
//! calls with international rates (and the classic one-ring toll-fraud destinations): each
//! of them is its own region, named by its area code.

/// NANP area codes of countries other than the US and Canada (and not US territories,
/// which are domestic: 340, 670, 671, 684, 787, 939). NANPA's list of non-US/Canada NPAs.
const NANP_OTHER_COUNTRIES: &[&str] = &[
    "242", // Bahamas
    "246", // Barbados
    "264", // Anguilla
    "268", // Antigua and Barbuda
    "284", // British Virgin Islands
    "345", // Cayman Islands
    "441", // Bermuda
    "473", // Grenada
    "649", // Turks and Caicos
    "658", // Jamaica
    "664", // Montserrat
    "721", // Sint Maarten
    "758", // Saint Lucia
    "767", // Dominica
    "784", // Saint Vincent and the Grenadines
    "809", // Dominican Republic
    "829", // Dominican Republic
    "849", // Dominican Republic
    "868", // Trinidad and Tobago
    "869", // Saint Kitts and Nevis
    "876", // Jamaica
];

/// The region of an E.164 number (`+` and digits): `"+44"`, `"+1"`, `"+1876"`. The argument
/// is returned whole when it is too short to hold a country code.
pub fn region(e164: &str) -> &str {
    let digits = e164.strip_prefix('+').unwrap_or(e164);
    let plus = e164.len() - digits.len();
    let code_len = country_code_len(digits);
    if code_len == 1 && digits.starts_with('1') {
        if let Some(npa) = digits.get(1..4) {
            if NANP_OTHER_COUNTRIES.contains(&npa) {
                return &e164[..plus + 4];
            }
        }
    }
    e164.get(..plus + code_len).unwrap_or(e164)
}

/// How many leading digits are the country code, by the ITU's list of assigned codes
/// (`sip::e164`'s numbering plan); an unassigned code is taken to be three digits long.
fn country_code_len(digits: &str) -> usize {
    crate::sip::e164::leading_country_code(digits).map_or(3, str::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_of_one_two_and_three_digits_are_told_apart() {
        for (number, expected) in [
            ("+15551234567", "+1"),
            ("+74951234567", "+7"),
            ("+442071838750", "+44"),
            ("+4930123456", "+49"),
            ("+353123456789", "+353"),
            ("+2348012345678", "+234"),
            ("+97145551234", "+971"),
        ] {
            assert_eq!(region(number), expected, "{number}");
        }
    }

    #[test]
    fn nanp_countries_other_than_the_us_and_canada_are_their_own_region() {
        assert_eq!(region("+18765551234"), "+1876", "Jamaica");
        assert_eq!(region("+18095551234"), "+1809", "Dominican Republic");
        assert_eq!(region("+14165551234"), "+1", "Toronto is domestic");
        assert_eq!(region("+17875551234"), "+1", "Puerto Rico is domestic");
    }

    #[test]
    fn short_input_never_panics() {
        for text in ["", "+", "+1", "+18", "4", "+é"] {
            let _ = region(text);
        }
    }
}
