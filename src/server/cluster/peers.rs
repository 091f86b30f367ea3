//! PeerJS ids cluster-wide and messages between instances. An id belongs to the instance
//! whose client claimed it first (`SET NX`); a client reconnecting with the same token may
//! take it over from another instance, and a dead instance's ids are free. A relay whose
//! destination is not here goes to the owner's inbox channel.

use redis::Value;
use serde::{Deserialize, Serialize};

use super::scripts::{self, DEL_IF};
use super::{Cluster, keys};

/// Whether a PeerJS id may connect here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Granted,
    /// The same client (same token) reconnected here from another instance, whose socket
    /// is told to close.
    Moved,
    /// Another live instance's client holds it with another token.
    Taken,
}

/// A message on one instance's inbox channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum InboxMessage {
    /// A PeerJS message (as its client would receive it) for a client of that instance.
    Relay { message: String },
    /// The client with this id reconnected elsewhere: close its socket here.
    Kick { id: String },
}

/// On [`keys::PEER_ONLINE`]: a PeerJS client connected at `node`; messages queued for it
/// elsewhere go there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerOnline {
    pub id: String,
    pub node: String,
}

impl Cluster {
    /// What `peer:{id}` holds for a client of this instance with `token`.
    pub(super) fn owner_value(&self, token: &str) -> String {
        format!("{} {}", self.node, token_hash(token))
    }

    /// Claims `id` for a client connecting here with `token`. While Redis is away the
    /// answer is `Granted` (this instance decides alone, as without a cluster).
    pub async fn claim_peer(&self, id: &str, token: &str) -> Claim {
        let mine = self.owner_value(token);
        let key = keys::peer(id);
        let set: Option<Value> = self
            .bus
            .run(redis::cmd("SET").arg(&key).arg(&mine).arg("NX"))
            .await;
        match set {
            None => return Claim::Granted,
            Some(Value::Okay) => {
                self.note_peer(id).await;
                return Claim::Granted;
            }
            Some(_) => {}
        }
        let Some(Some(current)) = self
            .bus
            .run::<Option<String>>(redis::cmd("GET").arg(&key))
            .await
        else {
            return Claim::Granted;
        };
        let (owner, hash) = current.split_once(' ').unwrap_or((&current, ""));
        let claim = if hash == token_hash(token) && owner != self.node {
            self.send(owner, &InboxMessage::Kick { id: id.to_string() })
                .await;
            Claim::Moved
        } else if hash == token_hash(token) || owner == self.node {
            // A reconnect here, or another token here (this PeerServer decides).
            return Claim::Granted;
        } else {
            // Free if its instance died.
            let alive: Option<bool> = self
                .bus
                .run(redis::cmd("EXISTS").arg(keys::node(owner)))
                .await;
            if alive != Some(false) {
                return Claim::Taken;
            }
            Claim::Granted
        };
        let _: Option<Value> = self.bus.run(redis::cmd("SET").arg(&key).arg(&mine)).await;
        self.note_peer(id).await;
        claim
    }

    async fn note_peer(&self, id: &str) {
        let _: Option<Value> = self
            .bus
            .run(redis::cmd("SADD").arg(keys::peers(&self.node)).arg(id))
            .await;
    }

    /// The client `id` with `token` left this instance.
    pub async fn release_peer(&self, id: &str, token: &str) {
        let mut pipe = redis::pipe();
        pipe.add_command(scripts::eval(
            DEL_IF,
            &keys::peer(id),
            &[&self.owner_value(token)],
        ))
        .ignore()
        .srem(keys::peers(&self.node), id)
        .ignore();
        let _: Option<()> = self.bus.run_pipeline(&pipe).await;
    }

    /// The instance holding PeerJS id `id`, if any holds it (or Redis is reachable).
    pub async fn owner_of(&self, id: &str) -> Option<String> {
        let value: Option<String> = self
            .bus
            .run::<Option<String>>(redis::cmd("GET").arg(keys::peer(id)))
            .await
            .flatten();
        value.map(|v| v.split(' ').next().unwrap_or_default().to_string())
    }

    /// Sends `message` to instance `node`.
    pub async fn send(&self, node: &str, message: &InboxMessage) {
        if let Ok(json) = serde_json::to_string(message) {
            self.bus.publish(&keys::inbox(node), json).await;
        }
    }

    /// Tells every instance that client `id` connected here.
    pub async fn announce_online(&self, id: &str) {
        let notice = PeerOnline {
            id: id.to_string(),
            node: self.node.clone(),
        };
        if let Ok(json) = serde_json::to_string(&notice) {
            self.bus.publish(keys::PEER_ONLINE, json).await;
        }
    }
}

/// A token as stored in Redis: enough to recognise it, not to reuse it.
fn token_hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_messages_read_back() {
        for message in [
            InboxMessage::Relay {
                message: r#"{"type":"OFFER","src":"a","dst":"b"}"#.into(),
            },
            InboxMessage::Kick { id: "a".into() },
        ] {
            let json = serde_json::to_string(&message).unwrap();
            assert_eq!(
                serde_json::from_str::<InboxMessage>(&json).unwrap(),
                message
            );
        }
        assert!(serde_json::from_str::<InboxMessage>(r#"{"kind":"nope"}"#).is_err());
    }

    #[test]
    fn tokens_are_stored_hashed() {
        let hash = token_hash("secret-token");
        assert_eq!(hash.len(), 24);
        assert!(!hash.contains("secret"));
        assert_ne!(hash, token_hash("other-token"));
    }
}
