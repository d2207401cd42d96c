//! The recorder every metric reports to: the Prometheus exporter's, behind a layer that
//! names each metric `switchboard_<name>` (Prometheus' naming convention: one prefix per
//! exporting application). Call sites keep the short names (`calls_ended_total`), so the
//! name in the source and the one on `/metrics` differ by exactly the prefix.
//!
//! Every `counter!`/`gauge!`/`histogram!` use registers its key again; the layer keeps the
//! handle the exporter gave for each key, so a metric's second use costs one lookup by the
//! key's precomputed hash instead of a prefixed copy of its name and the exporter's own
//! registration.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::RwLock;

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
pub struct Prefixed<R> {
    inner: R,
    counters: Handles<Counter>,
    gauges: Handles<Gauge>,
    histograms: Handles<Histogram>,
}

/// The handles registered so far, by their call sites' key (unprefixed).
type Handles<H> = RwLock<HashMap<Key, H, BuildHasherDefault<KeyHash>>>;

/// `Key` hashes itself as one `write_u64` of its precomputed hash: use it as it is.
#[derive(Default)]
struct KeyHash(u64);

impl Hasher for KeyHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if `Key`'s hashing changes: fold the bytes in rather than lose them.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The handle cached for `key`, else `register`'s, cached.
fn cached<H: Clone>(handles: &Handles<H>, key: &Key, register: impl FnOnce() -> H) -> H {
    if let Some(handle) = handles.read().unwrap_or_else(|p| p.into_inner()).get(key) {
        return handle.clone();
    }
    let mut handles = handles.write().unwrap_or_else(|p| p.into_inner());
    handles.entry(key.clone()).or_insert_with(register).clone()
}

impl<R> Prefixed<R> {
    pub fn new(inner: R) -> Prefixed<R> {
        Prefixed {
            inner,
            counters: Handles::default(),
            gauges: Handles::default(),
            histograms: Handles::default(),
        }
    }

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
        self.inner.describe_counter(Self::key_name(name), unit, description)
    }

    fn describe_gauge(&self, name: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(Self::key_name(name), unit, description)
    }

    fn describe_histogram(&self, name: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(Self::key_name(name), unit, description)
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        cached(&self.counters, key, || {
            self.inner.register_counter(&Self::key(key), metadata)
        })
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        cached(&self.gauges, key, || {
            self.inner.register_gauge(&Self::key(key), metadata)
        })
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        cached(&self.histograms, key, || {
            self.inner.register_histogram(&Self::key(key), metadata)
        })
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

    #[test]
    fn a_key_registered_again_reports_to_the_same_series_and_labels_keep_series_apart() {
        let exporter = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = exporter.handle();
        let recorder = Prefixed::new(exporter);
        let meta = Metadata::new("test", metrics::Level::INFO, None);
        static UDP: [metrics::Label; 1] = [metrics::Label::from_static_parts("transport", "udp")];
        static TCP: [metrics::Label; 1] = [metrics::Label::from_static_parts("transport", "tcp")];
        let udp = Key::from_static_parts("sip_test_total", &UDP);
        let tcp = Key::from_static_parts("sip_test_total", &TCP);
        recorder.register_counter(&udp, &meta).increment(2);
        recorder.register_counter(&udp, &meta).increment(3);
        // An equal key built at run time (owned labels) finds the same handle.
        let owned = Key::from_parts("sip_test_total", vec![metrics::Label::new("transport", "udp")]);
        recorder.register_counter(&owned, &meta).increment(1);
        recorder.register_counter(&tcp, &meta).increment(7);
        recorder
            .register_gauge(&Key::from_name("sip_test_gauge"), &meta)
            .set(4.0);
        recorder
            .register_gauge(&Key::from_name("sip_test_gauge"), &meta)
            .set(9.0);
        let text = handle.render();
        assert!(
            text.contains("switchboard_sip_test_total{transport=\"udp\"} 6"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_sip_test_total{transport=\"tcp\"} 7"),
            "{text}"
        );
        assert!(text.contains("switchboard_sip_test_gauge 9"), "{text}");
        assert!(!text.contains("\nsip_test_total"), "{text}");
    }
}
