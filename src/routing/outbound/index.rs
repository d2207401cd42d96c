//! Numbers by the agent version in their outbound slot, for calls that ask for no caller
//! ID. Built from a snapshot on first use and rebuilt when a newer snapshot is published
//! (one pass over the numbers per directory write, and only if such a call comes), so the
//! per-call lookup is a hash probe, never a scan.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::directory::Snapshot;

/// The numbers (E.164) whose outbound slot holds each version.
type ByVersion = HashMap<String, Vec<String>>;

/// The index, tied to the snapshot it was built from.
#[derive(Debug, Default)]
pub struct OutboundSlotIndex {
    built: Mutex<Option<(Weak<Snapshot>, Arc<ByVersion>)>>,
}

impl OutboundSlotIndex {
    /// The numbers whose outbound slot holds `version_id`, in `snapshot`, sorted; `None`
    /// when the index is not built for `snapshot` and `build` is false.
    pub fn numbers(&self, snapshot: &Arc<Snapshot>, version_id: &str, build: bool) -> Option<Vec<String>> {
        let index = self.current(snapshot, build)?;
        Some(index.get(version_id).cloned().unwrap_or_default())
    }

    fn current(&self, snapshot: &Arc<Snapshot>, build: bool) -> Option<Arc<ByVersion>> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((of, index)) = built.as_ref() {
            if std::ptr::eq(of.as_ptr(), Arc::as_ptr(snapshot)) {
                return Some(index.clone());
            }
        }
        if !build {
            return None;
        }
        let mut index = ByVersion::new();
        for number in snapshot.numbers() {
            if let Some(version) = &number.outbound_agent_version_id {
                index
                    .entry(version.clone())
                    .or_default()
                    .push(number.phone_number.clone());
            }
        }
        for numbers in index.values_mut() {
            numbers.sort();
        }
        let index = Arc::new(index);
        *built = Some((Arc::downgrade(snapshot), index.clone()));
        Some(index)
    }
}
