//! The TCP listener: admit each connection against the caps, then serve it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::stream::{self, Remote, StreamContext};
use super::Transport;

/// Accept connections until the task is dropped.
pub(crate) fn spawn_tcp_listener(listener: TcpListener, ctx: Arc<StreamContext>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (socket, peer): (_, SocketAddr) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "tcp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let Ok(admission) = ctx.connections.admit(peer) else {
                    metrics::counter!("sip_connections_refused_total", "transport" => "tcp").increment(1);
                    return;
                };
                let _ = socket.set_nodelay(true);
                stream::serve(ctx.clone(), socket, Remote::plain(peer, Transport::Tcp), None).await;
                drop(admission);
            });
        }
    })
}
