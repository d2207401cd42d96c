//! The recorder every metric reports to: the Prometheus exporter's, behind a layer that
//! names each metric `switchboard_<name>` (Prometheus' naming convention: one prefix per
//! exporting application). Call sites keep the short names (`calls_ended_total`), so the
//! name in the source and the one on `/metrics` differ by exactly the prefix.

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// What every exported name starts with (but `process_*`, which is shared by convention).
pub const PREFIX: &str = "switchboard_";

/// The exported name of `name`.
pub fn exported(name: &str) -> std::borrow::Cow<'_, str> {
    if name.starts_with(PREFIX) || name.starts_with("process_") {
        name.into()
    } else {
        format!("{PREFIX}{name}").into()
    }
}

/// A recorder that hands `inner` every metric under its exported name.
#[derive(Debug)]
pub struct Prefixed<R>(pub R);

impl<R> Prefixed<R> {
    fn key(key: &Key) -> Key {
        match exported(key.name()) {
            std::borrow::Cow::Borrowed(_) => key.clone(),
            std::borrow::Cow::Owned(name) => Key::from_parts(name, key.labels()),
        }
    }

    fn key_name(name: KeyName) -> KeyName {
        match exported(name.as_str()) {
            std::borrow::Cow::Borrowed(_) => name,
            std::borrow::Cow::Owned(prefixed) => KeyName::from(prefixed),
        }
    }
}

impl<R: Recorder> Recorder for Prefixed<R> {
    fn describe_counter(&self, name: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(Self::key_name(name), unit, description)
    }

    fn describe_gauge(&self, name: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(Self::key_name(name), unit, description)
    }

    fn describe_histogram(&self, name: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(Self::key_name(name), unit, description)
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(&Self::key(key), metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(&Self::key(key), metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(&Self::key(key), metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_the_prefix_once() {
        assert_eq!(exported("calls_ended_total"), "switchboard_calls_ended_total");
        assert_eq!(exported("switchboard_build_info"), "switchboard_build_info");
        assert_eq!(exported("process_open_fds"), "process_open_fds");
    }
}
