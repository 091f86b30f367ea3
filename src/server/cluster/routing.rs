//! Moves PeerJS messages between the instances of a cluster: a message whose destination
//! is not connected here goes to the instance holding it (or back to this PeerServer's
//! queue when none does); messages arriving in this instance's inbox are delivered here;
//! and when a client connects at another instance, what is queued for it here follows it.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::Cluster;
use super::keys;
use super::peers::{InboxMessage, PeerOnline};
use crate::server::peerserver::{PeerServer, Relay};

/// Messages buffered per channel before the listener falls behind.
const CHANNEL_BUFFER: usize = 4096;

/// Runs until the PeerServer closes. `absent` carries the messages whose destination is
/// not connected here.
pub async fn run(
    server: PeerServer,
    cluster: Arc<Cluster>,
    mut absent: mpsc::UnboundedReceiver<Relay>,
) {
    let mut inbox = cluster
        .bus
        .listen(&keys::inbox(&cluster.node), CHANNEL_BUFFER)
        .await;
    let mut online = cluster.bus.listen(keys::PEER_ONLINE, CHANNEL_BUFFER).await;
    let closing = server.closing().clone();
    loop {
        tokio::select! {
            _ = closing.cancelled() => return,
            Some(relay) = absent.recv() => route(&server, &cluster, relay).await,
            Some((_, bytes)) = inbox.recv() => match serde_json::from_slice(&bytes) {
                Ok(InboxMessage::Relay { message }) => match Relay::from_json(&message) {
                    Some(relay) => server.realm().transmit_here(relay, Instant::now()),
                    None => tracing::warn!("cluster: an instance relayed a message that is not PeerJS"),
                },
                Ok(InboxMessage::Kick { id }) => server.realm().kick(&id),
                Err(_) => tracing::warn!("cluster: unreadable message in this instance's inbox"),
            },
            Some((_, bytes)) = online.recv() => {
                if let Ok(notice) = serde_json::from_slice::<PeerOnline>(&bytes)
                    && notice.node != cluster.node
                {
                    let queued = server.realm().take_queue(&notice.id);
                    for relay in queued {
                        forward(&cluster, &notice.node, &relay).await;
                    }
                }
            },
            else => return,
        }
    }
}

/// Sends `relay` to the instance holding its destination, or queues it here.
async fn route(server: &PeerServer, cluster: &Cluster, relay: Relay) {
    let owner = match relay.dst() {
        Some(dst) => cluster.owner_of(dst).await,
        None => None,
    };
    match owner {
        Some(owner) if owner != cluster.node => forward(cluster, &owner, &relay).await,
        _ => server.realm().transmit_here(relay, Instant::now()),
    }
}

async fn forward(cluster: &Cluster, node: &str, relay: &Relay) {
    let message = InboxMessage::Relay {
        message: relay.to_json(),
    };
    cluster.send(node, &message).await;
}
