//! The shared SIP corpora, in process, as tables: every RFC 4475 and RFC 5118 message gets
//! the outcome its INDEX.tsv names (naming the vector on failure); every IMS flow message
//! parses; the Kamailio and pjsip corpora never panic the parser or the validator.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use switchboard::sip::{best_effort_response, validate_request, HeaderName, Message, Method, Scheme};

fn shared(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors")
        .join(folder)
}

fn read(path: &Path) -> Bytes {
    Bytes::from(std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())))
}

/// The response a request gets from parsing and validation alone (None: no response).
fn answer(raw: &Bytes) -> Result<Option<u16>, String> {
    match Message::parse(raw.clone()) {
        Ok(m) if !m.is_request() => Ok(None),
        Ok(m) => Ok(Some(validate_request(&m).err().map_or(0, |r| r.status))),
        Err(e) => {
            Ok(best_effort_response(raw, &e).map(|b| Message::parse(b).map(|r| r.status().unwrap()).unwrap_or(0)))
        }
    }
}

fn index(folder: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(shared(folder).join("INDEX.tsv"))
        .expect("INDEX.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn rfc4475_vectors_get_the_outcome_the_rfc_names() {
    let mut failures = Vec::new();
    for row in index("rfc4475") {
        let (name, expect) = (&row[0], row[2].as_str());
        let raw = read(&shared("rfc4475").join(format!("{name}.dat")));
        let got = answer(&raw).unwrap();
        let ok = match expect {
            // 0 = passed validation (the router then answers on its merits).
            "valid" => got.is_some_and(|s| s != 400),
            "response" => got.is_none(),
            "liberal" => got.is_some(),
            "reject" => match name.as_str() {
                "badvers" => got == Some(505),
                "unkscm" | "novelsc" => got == Some(416),
                "bext01" => got == Some(420),
                "mismatch02" => matches!(got, Some(400 | 501)),
                _ => got == Some(400),
            },
            other => panic!("unknown class {other}"),
        };
        if !ok {
            failures.push(format!("{name} ({expect}): got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rfc4475_valid_vectors_yield_the_fields_the_rfc_points_at() {
    let wsinv = Message::parse(read(&shared("rfc4475").join("wsinv.dat"))).unwrap();
    assert_eq!(wsinv.headers(HeaderName::Via).count(), 3);
    assert_eq!(wsinv.max_forwards().unwrap(), Some(68));
    assert_eq!(wsinv.cseq().unwrap().seq, 9);
    assert_eq!(wsinv.to().unwrap().tag, Some(&b"1918181833n"[..]));
    assert_eq!(wsinv.from().unwrap().tag, Some(&b"98asjd8"[..]));
    assert_eq!(wsinv.top_via().unwrap().host, b"192.0.2.2");
    assert_eq!(wsinv.header(HeaderName::Subject), Some(&b""[..]));
    assert_eq!(wsinv.body().len(), 150);

    let escnull = Message::parse(read(&shared("rfc4475").join("escnull.dat"))).unwrap();
    let user = escnull.to().unwrap().uri.user.unwrap();
    assert_eq!(&*switchboard::sip::unescape(user), b"null-\0-null");

    let esc02 = Message::parse(read(&shared("rfc4475").join("esc02.dat"))).unwrap();
    assert!(
        matches!(esc02.method(), Some(Method::Other(_))),
        "RE%47IST%45R is not REGISTER"
    );

    let dblreq = Message::parse(read(&shared("rfc4475").join("dblreq.dat"))).unwrap();
    assert_eq!(dblreq.method(), Some(&Method::Register));
    assert!(
        dblreq.body().is_empty(),
        "the trailing INVITE is not part of the REGISTER"
    );

    let semiuri = Message::parse(read(&shared("rfc4475").join("semiuri.dat"))).unwrap();
    let uri = switchboard::sip::Uri::parse(semiuri.request_uri().unwrap()).unwrap();
    assert_eq!(uri.user, Some(&b"user;par=u%40example.net"[..]));

    let unksm2 = Message::parse(read(&shared("rfc4475").join("unksm2.dat"))).unwrap();
    assert_eq!(unksm2.to().unwrap().uri.scheme, Scheme::Other);

    let mpart = Message::parse(read(&shared("rfc4475").join("mpart01.dat"))).unwrap();
    assert!(mpart.content_type().unwrap().starts_with(b"multipart/mixed"));
    assert!(mpart.body().ends_with(b"\r\n"), "the body is framed by Content-Length");

    let noreason = Message::parse(read(&shared("rfc4475").join("noreason.dat"))).unwrap();
    assert_eq!((noreason.status(), noreason.reason()), (Some(100), Some(&b""[..])));
}

#[test]
fn rfc5118_ipv6_vectors_get_the_outcome_their_index_names() {
    let mut failures = Vec::new();
    for row in index("rfc5118") {
        let (name, class) = (&row[0], row[4].as_str());
        let raw = read(&shared("rfc5118").join(format!("{name}.dat")));
        let got = answer(&raw).unwrap();
        let ok = match (name.as_str(), class) {
            // Content-Length larger than the body (see the folder's README): 400 or accept.
            ("ipv6-in-sdp", _) => got.is_some(),
            (_, "valid") => got.is_some_and(|s| s != 400),
            _ => got == Some(400),
        };
        if !ok {
            failures.push(format!("{name} ({class}): got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let ambiguous = Message::parse(read(&shared("rfc5118").join("port-ambiguous.dat"))).unwrap();
    let uri = switchboard::sip::Uri::parse(ambiguous.request_uri().unwrap()).unwrap();
    assert_eq!((uri.host, uri.port), (&b"[2001:db8::10:5070]"[..], None));
    let unambiguous = Message::parse(read(&shared("rfc5118").join("port-unambiguous.dat"))).unwrap();
    let uri = switchboard::sip::Uri::parse(unambiguous.request_uri().unwrap()).unwrap();
    assert_eq!((uri.host, uri.port), (&b"[2001:db8::10]"[..], Some(5070)));
    let mixed = Message::parse(read(&shared("rfc5118").join("mult-ip-in-header.dat"))).unwrap();
    assert!(mixed.headers(HeaderName::Via).count() >= 2);
}

fn files(folder: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(shared(folder))
        .unwrap_or_else(|e| panic!("{folder}: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sip" || x == "dat"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_ims_flow_message_parses_and_is_never_a_bad_request() {
    let paths = files("lioneagle-sipparser-ims");
    assert_eq!(paths.len(), 26);
    for path in paths {
        let m = Message::parse(read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Well-formed: validation may refuse on its merits (420 for `Require: path` at a
        // non-registrar), never as malformed.
        if let (true, Err(r)) = (m.is_request(), validate_request(&m)) {
            assert_ne!(r.status, 400, "{}: {r:?}", path.display());
        }
        m.top_via().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn kamailio_and_pjsip_corpora_never_panic() {
    let mut seen = 0;
    for folder in [
        "kamailio-test-misc-sip",
        "pjsip-fuzz-seeds/fuzz-sip",
        "pjsip-fuzz-seeds/fuzz-sip-dialog",
    ] {
        for path in files(folder) {
            let raw = read(&path);
            let _ = answer(&raw);
            if let Ok(m) = Message::parse(raw) {
                let _ = (m.top_via(), m.from(), m.to(), m.contact(), m.cseq(), m.max_forwards());
                let _ = Message::parse(m.to_bytes());
            }
            seen += 1;
        }
    }
    assert!(seen >= 60, "only {seen} corpus files found");
}
