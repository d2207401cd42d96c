//! Which org and trunk a call refused before routing belongs to when the call itself does
//! not say: the dialed number's, when we host it. An inbound call's record already names
//! the carrier the gate identified (org, and trunk when it could tell): the gate matched the
//! source against the trunks' addresses, certificates and passwords once, and nothing here
//! looks at the source again.

use crate::directory::Snapshot;

/// (org, trunk) of a refused call to `called` that names no carrier.
pub(super) fn of(snapshot: &Snapshot, called: Option<&str>) -> (Option<String>, Option<String>) {
    match called.and_then(|c| snapshot.number(c)) {
        Some(number) => (Some(number.org_id.clone()), Some(number.trunk_id.clone())),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::directory::Directory;
    use crate::store::SqliteStore;

    #[test]
    fn a_refused_call_naming_no_carrier_goes_to_the_hosted_number() {
        let dir = tempfile::tempdir().unwrap();
        let directory = Directory::load(Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap())).unwrap();
        crate::directory::ensure_demo(&directory, "t").unwrap();
        let snapshot = directory.snapshot();
        let hosted = snapshot.numbers().next().unwrap().clone();
        assert_eq!(
            of(&snapshot, Some(&hosted.phone_number)),
            (Some(hosted.org_id.clone()), Some(hosted.trunk_id.clone()))
        );
        assert_eq!(of(&snapshot, Some("+19995550000")), (None, None), "nobody's");
        assert_eq!(of(&snapshot, None), (None, None));
    }
}
