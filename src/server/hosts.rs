//! Which host names the resolver keeps fresh: the configured LiveKit host, each org's, the
//! carrier trunks' (and the managed carrier's). Looked up at start and again whenever the
//! directory changes, so that a call rarely meets a name it has to wait for.

use std::sync::Arc;
use std::time::Duration;

use crate::directory::{Directory, Snapshot};
use crate::resolve::{Resolver, Wanted};
use crate::routing::outbound::DirectoryOutboundRouter;
use crate::routing::LivekitHost;

/// How often the directory is checked for a change (a pointer comparison).
const WATCH_EVERY: Duration = Duration::from_millis(200);

/// The hosts of `snapshot` and of the configuration.
pub fn wanted(livekit_host: &str, snapshot: &Snapshot, outbound: &DirectoryOutboundRouter) -> Vec<Wanted> {
    let livekit = std::iter::once(livekit_host)
        .chain(snapshot.orgs.values().filter_map(|o| o.livekit_sip_host.as_deref()))
        .filter_map(|text| Some(Wanted::of(&LivekitHost::parse(text).ok()?.host_name()?)));
    let carriers = outbound
        .hosts()
        .into_iter()
        .map(|(name, port, transport)| Wanted { name, port, transport });
    livekit.chain(carriers).collect()
}

/// The watch; it stops when dropped.
pub struct Watch(tokio::task::JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolve the hosts now, and again each time the directory changes.
pub fn watch(
    resolver: Resolver,
    directory: Arc<Directory>,
    livekit_host: String,
    outbound: Arc<DirectoryOutboundRouter>,
) -> Watch {
    Watch(tokio::spawn(async move {
        let mut seen: Option<Arc<Snapshot>> = None;
        let mut tick = tokio::time::interval(WATCH_EVERY);
        loop {
            tick.tick().await;
            let snapshot = directory.snapshot();
            if seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &snapshot)) {
                continue;
            }
            resolver.want(wanted(&livekit_host, &snapshot, &outbound));
            seen = Some(snapshot);
        }
    }))
}
