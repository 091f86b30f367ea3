//! Socket.IO client for a PackSpaces space: connects over the websocket transport
//! (Engine.IO 4, as socket.io 4 servers speak it), emits `join-space` once the namespace is
//! accepted, turns `user-connected` / `user-disconnected` / `space-members` /
//! `chat-message` into [`SpaceEvent`]s, sends our chat lines, and reconnects (and re-joins)
//! with backoff when the connection drops.
//!
//! Written on tokio-tungstenite rather than `rust_socketio`: that crate always links
//! OpenSSL (native-tls), which a default build must not need, and the protocol subset a
//! space uses is small.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

pub mod packet;
pub mod protocol;

use crate::net::{Backoff, Endpoint, NetError, WsStream, connect_websocket};
use packet::{Packet, chat_packet, join_packet, parse_handshake, parse_packet, to_space_events};
use protocol::is_valid_space;

/// Where a space is: the backend's origin and the space name from the URL path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceUrl {
    pub endpoint: Endpoint,
    /// `None` is the workshop's single space (`join-space(peerId)`).
    pub space: Option<String>,
}

impl SpaceUrl {
    /// `http://host:3000/CSC342` → origin `http://host:3000`, space `CSC342`.
    pub fn parse(url: &str) -> Result<SpaceUrl, NetError> {
        let endpoint = Endpoint::parse(url)?;
        let path = endpoint.path.split(['?', '#']).next().unwrap_or("");
        let name = path.trim_matches('/');
        let space = if name.is_empty() {
            None
        } else if is_valid_space(name) {
            Some(name.to_string())
        } else {
            return Err(NetError::BadUrl {
                url: url.to_string(),
                reason: "the path must be a space name: 1-64 letters, digits, '-' or '_'".into(),
            });
        };
        Ok(SpaceUrl { endpoint, space })
    }

    /// The Engine.IO websocket URL.
    pub fn socket_url(&self) -> String {
        self.endpoint
            .url(true, "/socket.io/?EIO=4&transport=websocket")
    }

    /// A short name for the status bar.
    pub fn label(&self) -> String {
        match &self.space {
            Some(s) => format!("{} {s}", self.endpoint.authority()),
            None => format!("{} (main space)", self.endpoint.authority()),
        }
    }
}

/// What happens in the space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpaceEvent {
    /// Connected and `join-space` sent.
    Joined,
    UserConnected(String),
    UserDisconnected(String),
    /// Peer ids already in the space (servers that say so: `packspaces serve`, which
    /// relays chat too).
    Members(Vec<String>),
    /// (peer id, name) of members that gave a name when they joined (cleaned).
    Names(Vec<(String, String)>),
    /// A chat line relayed to the space (ours too, as the server confirms it).
    Chat(ChatLine),
    /// The server refused something (`space-error`).
    Refused(String),
    /// The connection dropped or failed; the next attempt follows after `retry_in`.
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
}

/// A chat message as the server relayed it, checked: `from` is a valid peer id, `name`
/// is cleaned, `text` is as sent (at most 500 characters; untrusted: show it only through
/// [`crate::text::sanitize`]), `time` is the server's RFC 3339 stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    pub from: String,
    pub name: Option<String>,
    pub text: String,
    pub time: Option<String>,
}

/// Who joins the space.
#[derive(Debug, Clone)]
pub struct Joiner {
    pub peer_id: String,
    /// Sent with `join-space` for the others' lists and chat.
    pub name: Option<String>,
}

/// Runs the space connection until `cancel` fires or the event receiver is dropped. Each
/// text from `say` goes out as a chat message while we are in the space; while we are not
/// (reconnecting), they wait for the next join.
pub async fn run(
    url: SpaceUrl,
    joiner: Joiner,
    events: mpsc::Sender<SpaceEvent>,
    mut say: mpsc::Receiver<String>,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return,
            outcome = session(&url, &joiner, &events, &mut say, &cancel) => outcome,
        };
        let reason = match outcome {
            Ok(Ended::Cancelled) | Ok(Ended::NobodyListens) => return,
            Ok(Ended::Dropped { was_joined, reason }) => {
                if was_joined {
                    backoff.reset();
                }
                reason
            }
            Err(e) => e,
        };
        let event = SpaceEvent::Disconnected {
            reason,
            retry_in: backoff.current(),
        };
        if events.send(event).await.is_err() {
            return;
        }
        if !backoff.wait(&cancel).await {
            return;
        }
    }
}

enum Ended {
    Cancelled,
    NobodyListens,
    Dropped { was_joined: bool, reason: String },
}

/// One connection: handshake, join, then events until it drops.
async fn session(
    url: &SpaceUrl,
    joiner: &Joiner,
    events: &mpsc::Sender<SpaceEvent>,
    say: &mut mpsc::Receiver<String>,
    cancel: &CancellationToken,
) -> Result<Ended, String> {
    let mut ws = connect_websocket(&url.socket_url(), &url.endpoint.trust)
        .await
        .map_err(|e| e.to_string())?;
    let open = next_text(&mut ws, Duration::from_secs(10)).await?;
    // Silence longer than the server's ping interval plus its timeout means it is gone.
    let liveness = parse_handshake(&open)
        .ok_or_else(|| format!("not a socket.io server (first message {open:.40?})"))?;
    send(&mut ws, packet::CONNECT.to_string()).await?;
    tracing::debug!("space: engine.io open, asked for the namespace");
    let mut joined = false;
    // Nobody may speak through us any more once the sender is gone.
    let mut say_open = true;
    loop {
        let text = tokio::select! {
            _ = cancel.cancelled() => {
                let _ = send(&mut ws, packet::DISCONNECT.to_string()).await;
                let _ = ws.close(None).await;
                return Ok(Ended::Cancelled);
            }
            said = say.recv(), if joined && say_open => {
                match said {
                    Some(text) => send(&mut ws, chat_packet(&text)).await?,
                    None => say_open = false,
                }
                continue;
            }
            text = next_text(&mut ws, liveness) => match text {
                Ok(t) => t,
                Err(reason) => return Ok(Ended::Dropped { was_joined: joined, reason }),
            },
        };
        let events_now = match parse_packet(&text) {
            Packet::Ping => {
                send(&mut ws, packet::PONG.to_string()).await?;
                continue;
            }
            Packet::Connected => {
                // Only now is the namespace accepted: an emit before this is lost.
                let join = join_packet(
                    url.space.as_deref(),
                    &joiner.peer_id,
                    joiner.name.as_deref(),
                );
                send(&mut ws, join).await?;
                tracing::debug!("space: namespace accepted, join-space sent");
                joined = true;
                vec![SpaceEvent::Joined]
            }
            Packet::ConnectError(reason) => {
                return Err(format!("the server refused the connection: {reason}"));
            }
            Packet::Closed => {
                return Ok(Ended::Dropped {
                    was_joined: joined,
                    reason: "the server closed the connection".into(),
                });
            }
            Packet::Event(name, args) => to_space_events(&name, &args),
            Packet::Other => continue,
        };
        for event in events_now {
            if events.send(event).await.is_err() {
                let _ = ws.close(None).await;
                return Ok(Ended::NobodyListens);
            }
        }
    }
}

async fn next_text(ws: &mut WsStream, within: Duration) -> Result<String, String> {
    loop {
        let message = tokio::time::timeout(within, ws.next())
            .await
            .map_err(|_| format!("no word from the server for {within:?}"))?;
        match message {
            Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
            Some(Ok(Message::Close(_))) | None => return Err("the connection closed".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
}

async fn send(ws: &mut WsStream, text: String) -> Result<(), String> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_space_from_the_path() {
        let u = SpaceUrl::parse("http://127.0.0.1:3000/CSC342").unwrap();
        assert_eq!(u.space.as_deref(), Some("CSC342"));
        assert_eq!(
            u.socket_url(),
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            SpaceUrl::parse("https://class.example/").unwrap().space,
            None
        );
        assert_eq!(
            SpaceUrl::parse("https://class.example")
                .unwrap()
                .socket_url(),
            "wss://class.example:443/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            SpaceUrl::parse("http://h:1/CSC342/")
                .unwrap()
                .space
                .as_deref(),
            Some("CSC342")
        );
        assert!(SpaceUrl::parse("http://h:1/a/b").is_err());
        assert!(SpaceUrl::parse("http://h:1/%1b[2J").is_err());
    }
}
