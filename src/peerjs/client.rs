//! PeerJS client: gets an id from a PeerServer, keeps its websocket open (HEARTBEAT every
//! 5 s, reconnecting with the same id and token when it drops), turns server messages into
//! [`SignalEvent`]s and sends [`SignalCommand`]s. Every message from the network is checked
//! before it becomes an event.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::protocol::{
    ConnectionPayload, ConnectionType, DEFAULT_KEY, Envelope, ErrorPayload, MessageType, TypeField,
    is_valid_connection_id, is_valid_id,
};
pub use super::protocol::{IceCandidate, SessionDescription};
use crate::net::{Backoff, Endpoint, NetError, WsStream, connect_websocket, http_get};

/// The public PeerJS server the workshop page uses when no host is given.
pub const CLOUD_SERVER: &str = "https://0.peerjs.com/";
/// PeerServers drop clients that are silent for about 90 s; PeerJS pings every 5 s.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// Longest SDP and candidate accepted from a peer.
pub const MAX_SDP_BYTES: usize = 64 << 10;
pub const MAX_CANDIDATE_BYTES: usize = 2 << 10;

/// Where the PeerServer is (`--peer-server URL`, `--peer-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerServerUrl {
    pub endpoint: Endpoint,
    /// Path prefix ending in `/`, e.g. `/peerjs/` or `/`.
    pub path: String,
    pub key: String,
}

impl PeerServerUrl {
    pub fn parse(url: &str, key: Option<&str>) -> Result<PeerServerUrl, NetError> {
        let endpoint = Endpoint::parse(url)?;
        let mut path = endpoint
            .path
            .split(['?', '#'])
            .next()
            .unwrap_or("/")
            .to_string();
        if !path.ends_with('/') {
            path.push('/');
        }
        Ok(PeerServerUrl {
            endpoint,
            path,
            key: key.unwrap_or(DEFAULT_KEY).to_string(),
        })
    }

    fn id_url(&self) -> String {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        self.endpoint
            .url(false, &format!("{}{}/id?ts={ts}", self.path, self.key))
    }

    fn socket_url(&self, id: &str, token: &str) -> String {
        self.endpoint.url(
            true,
            &format!("{}peerjs?key={}&id={id}&token={token}", self.path, self.key),
        )
    }
}

/// Something a PeerServer told us.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalEvent {
    /// Registered under this id; ready for calls.
    Open { id: String },
    /// A media call: `peer` offers, we may answer on `connection_id`.
    Offer {
        peer: String,
        connection_id: String,
        sdp: SessionDescription,
        metadata: Option<Value>,
    },
    /// `metadata` is our extension: PeerJS answers carry none, ours carry `{name}`.
    Answer {
        peer: String,
        connection_id: String,
        sdp: SessionDescription,
        metadata: Option<Value>,
    },
    Candidate {
        peer: String,
        connection_id: String,
        candidate: IceCandidate,
    },
    /// The peer hung up (or the server found it dead).
    Leave { peer: String },
    /// Our messages to `peer` expired: it is not connected to the server.
    Expire { peer: String },
    /// The server refused us; the text is sanitized.
    Error(String),
    /// Someone else has our id (sanitized text): a first registration tries a new one.
    IdTaken(String),
    /// The connection dropped; we retry after `retry_in` with the same id.
    Disconnected { reason: String, retry_in: Duration },
}

/// Something to send to a peer through the server.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalCommand {
    Offer {
        peer: String,
        connection_id: String,
        sdp: SessionDescription,
        metadata: Option<Value>,
    },
    /// `metadata` (e.g. our name) rides along; PeerJS clients ignore it.
    Answer {
        peer: String,
        connection_id: String,
        sdp: SessionDescription,
        metadata: Option<Value>,
    },
    Candidate {
        peer: String,
        connection_id: String,
        candidate: IceCandidate,
    },
    Leave {
        peer: String,
    },
}

impl SignalCommand {
    /// The message a PeerJS client sends for this command.
    pub fn to_envelope(&self) -> Envelope {
        let media = |connection_id: &str| ConnectionPayload {
            connection_type: Some(ConnectionType::Media),
            connection_id: connection_id.to_string(),
            sdp: None,
            candidate: None,
            browser: None,
            metadata: None,
        };
        let described =
            |connection_id: &str, sdp: &SessionDescription, metadata: &Option<Value>| {
                ConnectionPayload {
                    sdp: Some(sdp.clone()),
                    browser: Some(concat!("packspaces/", env!("CARGO_PKG_VERSION")).to_string()),
                    metadata: metadata.clone(),
                    ..media(connection_id)
                }
            };
        let (kind, dst, payload) = match self {
            SignalCommand::Offer {
                peer,
                connection_id,
                sdp,
                metadata,
            } => (
                MessageType::Offer,
                peer,
                Some(described(connection_id, sdp, metadata)),
            ),
            SignalCommand::Answer {
                peer,
                connection_id,
                sdp,
                metadata,
            } => (
                MessageType::Answer,
                peer,
                Some(described(connection_id, sdp, metadata)),
            ),
            SignalCommand::Candidate {
                peer,
                connection_id,
                candidate,
            } => (
                MessageType::Candidate,
                peer,
                Some(ConnectionPayload {
                    candidate: Some(candidate.clone()),
                    ..media(connection_id)
                }),
            ),
            SignalCommand::Leave { peer } => (MessageType::Leave, peer, None),
        };
        Envelope {
            dst: Some(dst.clone()),
            payload: payload.and_then(|p| serde_json::to_value(p).ok()),
            ..Envelope::new(kind)
        }
    }

    /// The JSON a PeerJS client sends for this command.
    pub fn to_json(&self) -> String {
        self.to_envelope().to_json()
    }
}

/// Why a server message was not turned into an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadMessage {
    #[error("not a JSON object with a type")]
    NotJson,
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("{0} has no valid src peer id")]
    BadSource(MessageType),
    #[error("{0} has a malformed payload: {1}")]
    BadPayload(MessageType, &'static str),
    #[error("{0} has a malformed payload: {1}")]
    BadJson(MessageType, String),
    #[error("a data connection (not supported; only media calls)")]
    DataConnection,
}

/// Parses one message from the server. `Ok(None)` for messages with nothing to do.
pub fn parse_server_message(text: &str) -> Result<Option<SignalEvent>, BadMessage> {
    let envelope = Envelope::parse(text).ok_or(BadMessage::NotJson)?;
    let kind = match envelope.kind {
        TypeField::Known(kind) => kind,
        TypeField::Unknown(other) => {
            return Err(BadMessage::UnknownType(crate::text::sanitize(&other, 40)));
        }
    };
    let src = || match envelope.src.as_deref() {
        Some(id) if is_valid_id(id) => Ok(id.to_string()),
        _ => Err(BadMessage::BadSource(kind)),
    };
    let message = || {
        envelope
            .payload
            .clone()
            .and_then(|p| serde_json::from_value::<ErrorPayload>(p).ok())
            .map(|p| crate::text::sanitize(&p.msg, 200))
            .unwrap_or_else(|| "no reason given".into())
    };
    Ok(Some(match kind {
        MessageType::Open | MessageType::Heartbeat => return Ok(None),
        MessageType::Error => SignalEvent::Error(message()),
        MessageType::IdTaken => SignalEvent::IdTaken(message()),
        MessageType::Leave => SignalEvent::Leave { peer: src()? },
        MessageType::Expire => SignalEvent::Expire { peer: src()? },
        MessageType::Offer | MessageType::Answer | MessageType::Candidate => {
            let peer = src()?;
            let payload = envelope
                .payload
                .clone()
                .ok_or(BadMessage::BadPayload(kind, "missing"))?;
            let payload: ConnectionPayload = serde_json::from_value(payload).map_err(|e| {
                BadMessage::BadJson(kind, crate::text::sanitize(&e.to_string(), 80))
            })?;
            if payload.connection_type == Some(ConnectionType::Data) {
                return Err(BadMessage::DataConnection);
            }
            if !is_valid_connection_id(&payload.connection_id) {
                return Err(BadMessage::BadPayload(kind, "bad connectionId"));
            }
            let connection_id = payload.connection_id;
            if kind == MessageType::Candidate {
                let candidate = payload
                    .candidate
                    .ok_or(BadMessage::BadPayload(kind, "no candidate"))?;
                if candidate.candidate.len() > MAX_CANDIDATE_BYTES {
                    return Err(BadMessage::BadPayload(kind, "candidate too long"));
                }
                SignalEvent::Candidate {
                    peer,
                    connection_id,
                    candidate,
                }
            } else {
                let sdp = payload.sdp.ok_or(BadMessage::BadPayload(kind, "no sdp"))?;
                if sdp.sdp.len() > MAX_SDP_BYTES {
                    return Err(BadMessage::BadPayload(kind, "sdp too long"));
                }
                let offer = kind == MessageType::Offer;
                if sdp.kind != if offer { "offer" } else { "answer" } {
                    return Err(BadMessage::BadPayload(kind, "sdp type does not match"));
                }
                let metadata = payload.metadata.filter(|m| !m.is_null());
                if offer {
                    SignalEvent::Offer {
                        peer,
                        connection_id,
                        sdp,
                        metadata,
                    }
                } else {
                    SignalEvent::Answer {
                        peer,
                        connection_id,
                        sdp,
                        metadata,
                    }
                }
            }
        }
    }))
}

/// Why registering with a PeerServer failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("cannot get a peer id: {0}")]
    Id(NetError),
    #[error("the PeerServer gave an unusable id {0:?}")]
    BadId(String),
    #[error("cannot open the PeerServer websocket: {0}")]
    Socket(NetError),
    #[error("the PeerServer refused us: {0}")]
    Refused(String),
    #[error("the PeerServer refused us: id taken: {0}")]
    IdTaken(String),
    #[error("the PeerServer did not answer in time")]
    Timeout,
}

/// A registered PeerJS client.
pub struct PeerClient {
    pub id: String,
    commands: mpsc::Sender<SignalCommand>,
}

impl PeerClient {
    /// Registers with the server (a new id on `ID-TAKEN`, up to three tries) and spawns the
    /// task that keeps the connection. Events arrive on `events`; the task ends on `cancel`.
    pub async fn register(
        server: PeerServerUrl,
        events: mpsc::Sender<SignalEvent>,
        cancel: CancellationToken,
    ) -> Result<PeerClient, RegisterError> {
        let mut last = RegisterError::Timeout;
        for _ in 0..3 {
            let id = http_get(&server.id_url(), 256, &server.endpoint.trust)
                .await
                .map_err(RegisterError::Id)?
                .trim()
                .to_string();
            if !is_valid_id(&id) {
                return Err(RegisterError::BadId(crate::text::sanitize(&id, 64)));
            }
            let token = random_token();
            match open_socket(&server, &id, &token, true).await {
                Ok(ws) => {
                    let (tx, rx) = mpsc::channel(256);
                    let _ = events.send(SignalEvent::Open { id: id.clone() }).await;
                    tokio::spawn(keep_connected(
                        server,
                        id.clone(),
                        token,
                        ws,
                        rx,
                        events,
                        cancel,
                    ));
                    return Ok(PeerClient { id, commands: tx });
                }
                Err(RegisterError::IdTaken(m)) => last = RegisterError::IdTaken(m),
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Queues a message for the server; false if the connection task has ended.
    pub async fn send(&self, command: SignalCommand) -> bool {
        self.commands.send(command).await.is_ok()
    }

    /// A sender for the call tasks.
    pub fn sender(&self) -> mpsc::Sender<SignalCommand> {
        self.commands.clone()
    }
}

fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// Opens the websocket and, for a first registration, waits for `OPEN`.
async fn open_socket(
    server: &PeerServerUrl,
    id: &str,
    token: &str,
    wait_open: bool,
) -> Result<WsStream, RegisterError> {
    let mut ws = connect_websocket(&server.socket_url(id, token), &server.endpoint.trust)
        .await
        .map_err(RegisterError::Socket)?;
    if !wait_open {
        return Ok(ws);
    }
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .map_err(|_| RegisterError::Timeout)?;
    let Some(Ok(Message::Text(text))) = first else {
        return Err(RegisterError::Refused("the connection closed".into()));
    };
    match parse_server_message(&text) {
        Ok(None) if Envelope::parse(&text).and_then(|e| e.known()) == Some(MessageType::Open) => {
            Ok(ws)
        }
        Ok(Some(SignalEvent::Error(m))) => Err(RegisterError::Refused(m)),
        Ok(Some(SignalEvent::IdTaken(m))) => Err(RegisterError::IdTaken(m)),
        _ => Err(RegisterError::Refused(format!(
            "unexpected first message {:.60}",
            crate::text::sanitize(&text, 60)
        ))),
    }
}

/// Pumps messages both ways, sends heartbeats, reconnects with the same id and token.
async fn keep_connected(
    server: PeerServerUrl,
    id: String,
    token: String,
    mut ws: WsStream,
    mut commands: mpsc::Receiver<SignalCommand>,
    events: mpsc::Sender<SignalEvent>,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        let reason = pump(&mut ws, &mut commands, &events, &cancel).await;
        let Some(reason) = reason else {
            let _ = ws.close(None).await;
            return;
        };
        loop {
            let event = SignalEvent::Disconnected {
                reason: reason.clone(),
                retry_in: backoff.current(),
            };
            if events.send(event).await.is_err() {
                return;
            }
            if !backoff.wait(&cancel).await {
                return;
            }
            // A reconnect with the same token takes the id back; the server sends no OPEN.
            match open_socket(&server, &id, &token, false).await {
                Ok(new) => {
                    ws = new;
                    backoff.reset();
                    let _ = events.send(SignalEvent::Open { id: id.clone() }).await;
                    break;
                }
                Err(e) => tracing::info!("peerjs: reconnect failed: {e}"),
            }
        }
    }
}

/// Runs one connection; `None` when we should stop, `Some(reason)` when it dropped.
async fn pump(
    ws: &mut WsStream,
    commands: &mut mpsc::Receiver<SignalCommand>,
    events: &mpsc::Sender<SignalEvent>,
    cancel: &CancellationToken,
) -> Option<String> {
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return None,
            _ = heartbeat.tick() => {
                let beat = Envelope::new(MessageType::Heartbeat).to_json();
                if ws.send(Message::Text(beat.into())).await.is_err() {
                    return Some("heartbeat failed".into());
                }
            }
            command = commands.recv() => {
                let command = command?;
                if let Err(e) = ws.send(Message::Text(command.to_json().into())).await {
                    return Some(e.to_string());
                }
            }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => match parse_server_message(&text) {
                    Ok(Some(event)) => {
                        if events.send(event).await.is_err() {
                            return None;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!("peerjs: ignored a message: {e}"),
                },
                Some(Ok(Message::Close(_))) | None => return Some("the PeerServer closed the connection".into()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Some(e.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_urls_follow_peerjs_conventions() {
        let s = PeerServerUrl::parse("http://127.0.0.1:3000/peerjs", None).unwrap();
        assert!(
            s.id_url()
                .starts_with("http://127.0.0.1:3000/peerjs/peerjs/id?ts=")
        );
        assert_eq!(
            s.socket_url("abc", "tok"),
            "ws://127.0.0.1:3000/peerjs/peerjs?key=peerjs&id=abc&token=tok"
        );
        let cloud = PeerServerUrl::parse(CLOUD_SERVER, None).unwrap();
        assert_eq!(
            cloud.socket_url("a", "t"),
            "wss://0.peerjs.com:443/peerjs?key=peerjs&id=a&token=t"
        );
    }

    #[test]
    fn offers_answers_and_candidates_parse_as_browsers_send_them() {
        let offer = json!({"type": "OFFER", "src": "abc", "dst": "me", "payload": {
            "sdp": {"type": "offer", "sdp": "v=0\r\n"}, "type": "media", "connectionId": "mc_x1",
            "browser": "chrome", "metadata": {"name": "Ada"}}});
        assert_eq!(
            parse_server_message(&offer.to_string()),
            Ok(Some(SignalEvent::Offer {
                peer: "abc".into(),
                connection_id: "mc_x1".into(),
                sdp: SessionDescription {
                    kind: "offer".into(),
                    sdp: "v=0\r\n".into()
                },
                metadata: Some(json!({"name": "Ada"})),
            }))
        );
        let cand = json!({"type": "CANDIDATE", "src": "abc", "payload": {"candidate": {
            "candidate": "candidate:1 1 udp 2 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0},
            "type": "media", "connectionId": "mc_x1"}});
        assert!(matches!(
            parse_server_message(&cand.to_string()),
            Ok(Some(SignalEvent::Candidate { .. }))
        ));
        assert_eq!(parse_server_message(r#"{"type":"OPEN"}"#), Ok(None));
        assert_eq!(
            parse_server_message(r#"{"type":"LEAVE","src":"abc","dst":"me"}"#),
            Ok(Some(SignalEvent::Leave { peer: "abc".into() }))
        );
    }

    #[test]
    fn malformed_messages_are_refused_with_reasons() {
        let cases = [
            ("nope", BadMessage::NotJson),
            (
                r#"{"type":"BOGUS"}"#,
                BadMessage::UnknownType("BOGUS".into()),
            ),
            (
                r#"{"type":"LEAVE","src":"a\u001b[2J"}"#,
                BadMessage::BadSource(MessageType::Leave),
            ),
            (
                r#"{"type":"OFFER","src":"a"}"#,
                BadMessage::BadPayload(MessageType::Offer, "missing"),
            ),
            (
                r#"{"type":"OFFER","src":"a","payload":{"type":"data","connectionId":"dc_1"}}"#,
                BadMessage::DataConnection,
            ),
            (
                r#"{"type":"OFFER","src":"a","payload":{"connectionId":"x y","sdp":{"type":"offer","sdp":""}}}"#,
                BadMessage::BadPayload(MessageType::Offer, "bad connectionId"),
            ),
            (
                r#"{"type":"OFFER","src":"a","payload":{"connectionId":"c","sdp":{"type":"answer","sdp":""}}}"#,
                BadMessage::BadPayload(MessageType::Offer, "sdp type does not match"),
            ),
            (
                r#"{"type":"CANDIDATE","src":"a","payload":{"connectionId":"c"}}"#,
                BadMessage::BadPayload(MessageType::Candidate, "no candidate"),
            ),
            (
                r#"{"type":"ANSWER","src":"a","payload":{"connectionId":"c"}}"#,
                BadMessage::BadPayload(MessageType::Answer, "no sdp"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_server_message(text), Err(want), "{text}");
        }
        let huge = json!({"type": "OFFER", "src": "a", "payload": {"connectionId": "c",
            "sdp": {"type": "offer", "sdp": "x".repeat(MAX_SDP_BYTES + 1)}}});
        assert_eq!(
            parse_server_message(&huge.to_string()),
            Err(BadMessage::BadPayload(MessageType::Offer, "sdp too long"))
        );
        // A payload of the wrong shape says what serde found, made safe to print.
        let wrong =
            r#"{"type":"CANDIDATE","src":"a","payload":{"connectionId":"c","candidate":5}}"#;
        match parse_server_message(wrong) {
            Err(BadMessage::BadJson(MessageType::Candidate, why)) => {
                assert!(why.contains("invalid type"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let error = json!({"type": "ERROR", "payload": {"msg": "Invalid key provided\u{1b}[2J"}});
        assert_eq!(
            parse_server_message(&error.to_string()),
            Ok(Some(SignalEvent::Error(
                "Invalid key provided\u{fffd}[2J".into()
            )))
        );
    }

    #[test]
    fn commands_serialize_as_peerjs_sends_them() {
        let answer = SignalCommand::Answer {
            peer: "abc".into(),
            connection_id: "mc_1".into(),
            sdp: SessionDescription {
                kind: "answer".into(),
                sdp: "v=0".into(),
            },
            metadata: Some(json!({"name": "Ada"})),
        };
        let v: Value = serde_json::from_str(&answer.to_json()).unwrap();
        assert_eq!(v["payload"]["metadata"]["name"], "Ada");
        assert_eq!(v["type"], "ANSWER");
        assert_eq!(v["dst"], "abc");
        assert_eq!(v["payload"]["connectionId"], "mc_1");
        assert_eq!(v["payload"]["type"], "media");
        assert_eq!(v["payload"]["sdp"], json!({"type": "answer", "sdp": "v=0"}));
        let leave: Value =
            serde_json::from_str(&SignalCommand::Leave { peer: "abc".into() }.to_json()).unwrap();
        assert_eq!(leave, json!({"type": "LEAVE", "dst": "abc"}));
    }
}
