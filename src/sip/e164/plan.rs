//! What the API needs to know of each country's numbering plan to tell a number from a
//! string of digits: which country calling codes the ITU has assigned (ITU-T E.164 and its
//! Annex to the Operational Bulletin), how long a national significant number may be, and
//! the trunk prefix a national number is written with (`0` in most countries, `1` in the
//! North American plan). Lengths are those of the national plans; a plan the table does not
//! name takes E.164's bounds (at least 4 digits, at most 15 with the country code).

/// Assigned country calling codes. They are prefix-free: a number starts with one of them
/// and with no other.
const ASSIGNED: &[&str] = &[
    "1", "7", // zone 1 and 7
    "20", "211", "212", "213", "216", "218", "220", "221", "222", "223", "224", "225", "226", "227", "228", "229",
    "230", "231", "232", "233", "234", "235", "236", "237", "238", "239", "240", "241", "242", "243", "244", "245",
    "246", "247", "248", "249", "250", "251", "252", "253", "254", "255", "256", "257", "258", "260", "261", "262",
    "263", "264", "265", "266", "267", "268", "269", "27", "290", "291", "297", "298", "299", // zone 2
    "30", "31", "32", "33", "34", "350", "351", "352", "353", "354", "355", "356", "357", "358", "359", "36", "370",
    "371", "372", "373", "374", "375", "376", "377", "378", "379", "380", "381", "382", "383", "385", "386", "387",
    "389", "39", // zone 3
    "40", "41", "420", "421", "423", "43", "44", "45", "46", "47", "48", "49", // zone 4
    "500", "501", "502", "503", "504", "505", "506", "507", "508", "509", "51", "52", "53", "54", "55", "56", "57",
    "58", "590", "591", "592", "593", "594", "595", "596", "597", "598", "599", // zone 5
    "60", "61", "62", "63", "64", "65", "66", "670", "672", "673", "674", "675", "676", "677", "678", "679", "680",
    "681", "682", "683", "685", "686", "687", "688", "689", "690", "691", "692", // zone 6
    "800", "808", "81", "82", "84", "850", "852", "853", "855", "856", "86", "870", "878", "880", "881", "882", "883",
    "886", "888", // zone 8
    "90", "91", "92", "93", "94", "95", "960", "961", "962", "963", "964", "965", "966", "967", "968", "970", "971",
    "972", "973", "974", "975", "976", "977", "979", "98", "991", "992", "993", "994", "995", "996",
    "998", // zone 9
];

/// (country code, shortest and longest national significant number) where the national
/// plan is narrower than E.164's bounds.
const LENGTHS: &[(&str, usize, usize)] = &[
    ("1", 10, 10),  // NANP: NPA-NXX-XXXX
    ("7", 10, 10),  // Russia, Kazakhstan
    ("20", 8, 10),  // Egypt
    ("27", 9, 9),   // South Africa
    ("30", 10, 10), // Greece
    ("31", 9, 11),  // Netherlands
    ("32", 8, 9),   // Belgium
    ("33", 9, 9),   // France
    ("34", 9, 9),   // Spain
    ("36", 8, 9),   // Hungary
    ("39", 6, 11),  // Italy
    ("41", 9, 9),   // Switzerland
    ("43", 4, 13),  // Austria
    ("44", 7, 10),  // United Kingdom
    ("45", 8, 8),   // Denmark
    ("46", 7, 10),  // Sweden
    ("47", 5, 8),   // Norway
    ("48", 9, 9),   // Poland
    ("49", 5, 13),  // Germany
    ("52", 10, 10), // Mexico
    ("55", 10, 11), // Brazil
    ("61", 5, 9),   // Australia
    ("64", 8, 10),  // New Zealand
    ("81", 9, 10),  // Japan
    ("82", 8, 10),  // South Korea
    ("86", 7, 12),  // China
    ("91", 10, 10), // India
];

/// Trunk prefixes other than `0`; `""` for plans whose national numbers carry none.
const TRUNK_PREFIXES: &[(&str, &str)] = &[
    ("1", "1"),
    ("7", "8"),
    ("36", "06"),
    ("370", "8"),
    ("375", "8"),
    ("30", ""),
    ("34", ""),
    ("39", ""), // Italy: the leading 0 belongs to the number
    ("45", ""),
    ("47", ""),
    ("351", ""),
    ("352", ""),
    ("356", ""),
];

/// E.164: at most 15 digits with the country code; ITU's shortest national numbers have 4.
pub const MAX_DIGITS: usize = 15;
const MIN_NATIONAL: usize = 4;

/// The assigned country code `digits` starts with.
pub fn country_code(digits: &str) -> Option<&'static str> {
    (1..=3)
        .filter_map(|n| digits.get(..n))
        .find_map(|prefix| ASSIGNED.iter().copied().find(|code| *code == prefix))
}

/// Whether `code` (digits, no `+`) is an assigned country calling code.
pub fn is_country_code(code: &str) -> bool {
    ASSIGNED.contains(&code)
}

/// The shortest and longest national significant number of the country.
pub fn national_lengths(code: &str) -> (usize, usize) {
    LENGTHS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or((MIN_NATIONAL, MAX_DIGITS - code.len()), |(_, min, max)| (*min, *max))
}

/// The prefix a national number of this country is dialled with.
pub fn trunk_prefix(code: &str) -> &'static str {
    TRUNK_PREFIXES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("0", |(_, prefix)| prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigned_codes_are_prefix_free() {
        for a in ASSIGNED {
            for b in ASSIGNED {
                assert!(a == b || !b.starts_with(a), "{a} is a prefix of {b}");
            }
        }
        for (code, _, _) in LENGTHS {
            assert!(is_country_code(code), "{code}");
        }
        for (code, _) in TRUNK_PREFIXES {
            assert!(is_country_code(code), "{code}");
        }
    }
}
