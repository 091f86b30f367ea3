//! A PeerJS-compatible PeerServer, behaving on the wire like the npm `peer` 1.0.2 server:
//! `GET {base}/{key}/id` hands out UUIDs; a websocket at `{base}/peerjs?key=&id=&token=`
//! answers `OPEN` (or `ERROR` / `ID-TAKEN`), keeps clients alive on `HEARTBEAT`, relays
//! `OFFER`/`ANSWER`/`CANDIDATE`/`LEAVE`/`EXPIRE` with the sender's id as `src`, queues
//! messages for peers that are not connected yet and answers `EXPIRE` after ~5 s.
//!
//! The [`Realm`] holds the state and makes every decision without sockets (tests drive it
//! with channels and explicit times); the axum handlers only move bytes. Each client has a
//! bounded outbox and a rate limit, so a flooding client is cut off and can neither slow
//! down nor disconnect anyone else.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::peerjs::protocol::{
    Envelope, ErrorPayload, MessageType, TypeField, errors, is_valid_id,
};
use crate::server::cluster::Cluster;
use crate::server::cluster::peers::Claim;

/// Limits and timings. Defaults follow `peer` 1.0.2 where it has them.
#[derive(Debug, Clone)]
pub struct PeerServerConfig {
    pub key: String,
    /// Queued messages older than this are answered with `EXPIRE` (peer: 5 s).
    pub expire_timeout: Duration,
    /// A client with no `HEARTBEAT` for this long is dropped (peer: 90 s).
    pub alive_timeout: Duration,
    /// How often queues and liveness are checked.
    pub check_interval: Duration,
    /// PeerJS clients connected at once; beyond it newcomers get `ERROR` (peer: 5000).
    pub concurrent_limit: usize,
    /// Largest websocket message accepted (an SDP is a few KiB).
    pub max_message_bytes: usize,
    /// Messages queued for one absent peer, and absent peers with a queue, at most.
    pub max_queued_per_peer: usize,
    pub max_queues: usize,
    /// Messages one client may send per second on average, and in a burst.
    pub rate_per_second: f64,
    pub rate_burst: f64,
    /// Outgoing messages buffered per client; beyond that, messages to it are dropped.
    pub outbox: usize,
}

impl Default for PeerServerConfig {
    fn default() -> Self {
        Self {
            key: crate::peerjs::protocol::DEFAULT_KEY.to_string(),
            expire_timeout: Duration::from_secs(5),
            alive_timeout: Duration::from_secs(90),
            check_interval: Duration::from_millis(300),
            concurrent_limit: 5000,
            max_message_bytes: 64 << 10,
            max_queued_per_peer: 128,
            max_queues: 10_000,
            rate_per_second: 200.0,
            rate_burst: 1000.0,
            outbox: 1024,
        }
    }
}

/// What the socket task is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Text(String),
    Close,
}

/// A message on its way from `src` to `dst` (queued while `dst` is away), written as a
/// PeerJS [`Envelope`].
#[derive(Debug, Clone, PartialEq)]
pub struct Relay {
    kind: MessageType,
    src: String,
    dst: Option<String>,
    /// Relayed untouched, as `peer` does.
    payload: Option<Value>,
    /// Already passed between instances of a cluster (it is not sent on again).
    forwarded: bool,
}

impl Relay {
    fn new(kind: MessageType, src: String, dst: Option<String>, payload: Option<Value>) -> Self {
        Self {
            kind,
            src,
            dst,
            payload,
            forwarded: false,
        }
    }

    pub fn dst(&self) -> Option<&str> {
        self.dst.as_deref()
    }

    /// Reads what [`Relay::to_json`] wrote (another instance's relay); `None` for anything
    /// that is not a relayable message with a sender.
    pub fn from_json(text: &str) -> Option<Relay> {
        let envelope = Envelope::parse(text)?;
        let kind @ (MessageType::Offer
        | MessageType::Answer
        | MessageType::Candidate
        | MessageType::Leave
        | MessageType::Expire) = envelope.known()?
        else {
            return None;
        };
        let src = envelope.src.filter(|s| is_valid_id(s))?;
        Some(Relay::new(kind, src, envelope.dst, envelope.payload))
    }

    /// The message as its destination client receives it.
    pub fn to_json(&self) -> String {
        Envelope {
            kind: TypeField::Known(self.kind),
            src: Some(self.src.clone()),
            dst: self.dst.clone(),
            payload: self.payload.clone(),
        }
        .to_json()
    }
}

struct Client {
    token: String,
    /// Which websocket currently speaks for this id (a reconnect replaces it).
    conn: u64,
    tx: mpsc::Sender<Outgoing>,
    last_ping: Instant,
}

struct Queue {
    last_read: Instant,
    messages: Vec<Relay>,
}

/// Why a websocket was refused at connection time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Sent as `{"type":"ERROR","payload":{"msg":…}}`.
    Error(&'static str),
    /// Sent as `{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}`.
    IdTaken,
}

impl Refusal {
    pub fn to_json(&self) -> String {
        let (kind, msg) = match self {
            Refusal::Error(msg) => (MessageType::Error, *msg),
            Refusal::IdTaken => (MessageType::IdTaken, errors::ID_TAKEN),
        };
        let payload = ErrorPayload {
            msg: msg.to_string(),
        };
        Envelope {
            payload: serde_json::to_value(payload).ok(),
            ..Envelope::new(kind)
        }
        .to_json()
    }
}

/// All clients and queues of one PeerServer.
pub struct Realm {
    config: PeerServerConfig,
    clients: HashMap<String, Client>,
    queues: HashMap<String, Queue>,
    /// In a cluster: where messages for clients that are not here go first (to be routed
    /// to their instance, or handed back with [`Realm::transmit_here`]).
    elsewhere: Option<mpsc::UnboundedSender<Relay>>,
}

impl Realm {
    pub fn new(config: PeerServerConfig) -> Self {
        Self {
            config,
            clients: HashMap::new(),
            queues: HashMap::new(),
            elsewhere: None,
        }
    }

    /// Messages for clients that are not here are sent to `elsewhere` instead of being
    /// queued or dropped here.
    pub fn send_absent_to(&mut self, elsewhere: mpsc::UnboundedSender<Relay>) {
        self.elsewhere = Some(elsewhere);
    }

    pub fn config(&self) -> &PeerServerConfig {
        &self.config
    }

    /// A websocket arrived with these query parameters. On success the client is
    /// registered, `OPEN` (unless it is a reconnect with the same token, where `peer`
    /// sends nothing) and any queued messages are already in `tx`.
    pub fn connect(
        &mut self,
        conn: u64,
        key: Option<&str>,
        id: Option<&str>,
        token: Option<&str>,
        tx: mpsc::Sender<Outgoing>,
        now: Instant,
    ) -> Result<(), Refusal> {
        let (Some(key), Some(id), Some(token)) = (
            key.filter(|s| !s.is_empty()),
            id.filter(|s| !s.is_empty()),
            token.filter(|s| !s.is_empty()),
        ) else {
            return Err(Refusal::Error(errors::INVALID_WS_PARAMETERS));
        };
        if key != self.config.key {
            return Err(Refusal::Error(errors::INVALID_KEY));
        }
        if !is_valid_id(id) || token.len() > 128 {
            return Err(Refusal::Error(errors::INVALID_WS_PARAMETERS));
        }
        match self.clients.get_mut(id) {
            Some(client) if client.token != token => return Err(Refusal::IdTaken),
            Some(client) => {
                // Same token: the peer reconnected. The old socket is told to close.
                let _ = client.tx.try_send(Outgoing::Close);
                client.conn = conn;
                client.tx = tx.clone();
            }
            None => {
                if self.clients.len() >= self.config.concurrent_limit {
                    return Err(Refusal::Error(errors::CONNECTION_LIMIT_EXCEED));
                }
                let open = Envelope::new(MessageType::Open).to_json();
                let _ = tx.try_send(Outgoing::Text(open));
                self.clients.insert(
                    id.to_string(),
                    Client {
                        token: token.to_string(),
                        conn,
                        tx,
                        last_ping: now,
                    },
                );
            }
        }
        if let Some(queue) = self.queues.remove(id) {
            for message in queue.messages {
                self.transmit(message, now);
            }
        }
        Ok(())
    }

    /// The websocket `conn` of client `id` closed.
    pub fn disconnect(&mut self, conn: u64, id: &str) {
        if self.clients.get(id).is_some_and(|c| c.conn == conn) {
            self.clients.remove(id);
        }
    }

    /// Whether a client with this id is connected.
    pub fn holds(&self, id: &str) -> bool {
        self.clients.contains_key(id)
    }

    /// (id, token) of every client.
    pub fn clients(&self) -> Vec<(String, String)> {
        self.clients
            .iter()
            .map(|(id, c)| (id.clone(), c.token.clone()))
            .collect()
    }

    /// Closes client `id`'s socket (it reconnected through another instance).
    pub fn kick(&mut self, id: &str) {
        if let Some(client) = self.clients.remove(id) {
            let _ = client.tx.try_send(Outgoing::Close);
        }
    }

    /// Delivers a message here, or queues or drops it as for an absent client here: it
    /// came from another instance, or no instance holds its destination.
    pub fn transmit_here(&mut self, mut message: Relay, now: Instant) {
        message.forwarded = true;
        self.transmit(message, now);
    }

    /// The messages queued for `id` (it connected at another instance).
    pub fn take_queue(&mut self, id: &str) -> Vec<Relay> {
        self.queues
            .remove(id)
            .map(|q| q.messages)
            .unwrap_or_default()
    }

    /// A text message from client `id` on websocket `conn`. Malformed or unknown
    /// messages are ignored, as `peer` does.
    pub fn message(&mut self, conn: u64, id: &str, text: &str, now: Instant) {
        if self.clients.get(id).is_none_or(|c| c.conn != conn) {
            return;
        }
        let Some(envelope) = Envelope::parse(text) else {
            tracing::debug!("peerserver: {id} sent a message that is not a PeerJS message");
            return;
        };
        // Unknown types, and types only servers send, are ignored as `peer` does.
        let Some(
            kind @ (MessageType::Heartbeat
            | MessageType::Offer
            | MessageType::Answer
            | MessageType::Candidate
            | MessageType::Leave
            | MessageType::Expire),
        ) = envelope.known()
        else {
            return;
        };
        if kind == MessageType::Heartbeat {
            if let Some(client) = self.clients.get_mut(id) {
                client.last_ping = now;
            }
            return;
        }
        // The sender is who the connection says, whatever `src` the message claims.
        let relay = Relay::new(
            kind,
            id.to_string(),
            envelope.dst,
            envelope.payload.filter(|p| !p.is_null()),
        );
        self.transmit(relay, now);
    }

    /// Delivers, queues or drops one message (peer's `TransmissionHandler`).
    fn transmit(&mut self, message: Relay, now: Instant) {
        let dst = message.dst.clone();
        if let Some(dst) = &dst
            && let Some(client) = self.clients.get(dst)
        {
            let text = message.to_json();
            match client.tx.try_send(Outgoing::Text(text)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Someone is flooding this peer faster than its socket drains: drop the
                    // message, not the peer (a flooder must not get others disconnected).
                    tracing::warn!("peerserver: outbox of {dst} is full; dropped a message");
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    // The peer's socket is gone: forget it and tell the sender to stop
                    // trying, as peer does for a dead socket.
                    tracing::info!("peerserver: {dst} is gone");
                    self.clients.remove(dst);
                    self.transmit(
                        Relay::new(MessageType::Leave, dst.clone(), Some(message.src), None),
                        now,
                    );
                }
            }
            return;
        }
        if let (Some(elsewhere), Some(_), false) = (&self.elsewhere, &dst, message.forwarded) {
            // Perhaps at another instance; handed back if not.
            let _ = elsewhere.send(message);
            return;
        }
        match (message.kind, dst) {
            (MessageType::Leave | MessageType::Expire, Some(_)) => {}
            (MessageType::Leave, None) => {
                self.clients.remove(&message.src);
            }
            (_, Some(dst)) => self.enqueue(dst, message, now),
            (_, None) => {}
        }
    }

    fn enqueue(&mut self, dst: String, message: Relay, now: Instant) {
        if !self.queues.contains_key(&dst) && self.queues.len() >= self.config.max_queues {
            tracing::warn!("peerserver: too many absent peers with messages; dropped one");
            return;
        }
        let queue = self.queues.entry(dst).or_insert_with(|| Queue {
            last_read: now,
            messages: Vec::new(),
        });
        if queue.messages.len() < self.config.max_queued_per_peer {
            queue.messages.push(message);
        }
    }

    /// Expires old queues (answering `EXPIRE` to each sender once) and drops clients
    /// whose last heartbeat is older than the alive timeout.
    pub fn tick(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, q)| now.duration_since(q.last_read) >= self.config.expire_timeout)
            .map(|(dst, _)| dst.clone())
            .collect();
        let mut seen = HashSet::new();
        for dst in expired {
            let Some(queue) = self.queues.remove(&dst) else {
                continue;
            };
            for message in queue.messages {
                if seen.insert((message.src.clone(), dst.clone())) {
                    self.transmit(
                        Relay::new(MessageType::Expire, dst.clone(), Some(message.src), None),
                        now,
                    );
                }
            }
        }
        let alive_timeout = self.config.alive_timeout;
        let mut silent = Vec::new();
        self.clients.retain(|id, client| {
            let alive = now.duration_since(client.last_ping) < alive_timeout;
            if !alive {
                tracing::info!("peerserver: {id} sent no heartbeat for {alive_timeout:?}");
                let _ = client.tx.try_send(Outgoing::Close);
                silent.push(id.clone());
            }
            alive
        });
        for id in silent {
            self.queues.remove(&id);
        }
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }
}

/// The PeerServer shared by its HTTP and websocket handlers.
#[derive(Clone)]
pub struct PeerServer {
    realm: Arc<Mutex<Realm>>,
    next_conn: Arc<std::sync::atomic::AtomicU64>,
    /// Ends every open websocket when the server stops.
    closing: tokio_util::sync::CancellationToken,
    /// Other instances sharing ids and relays (`serve --redis`).
    cluster: Option<Arc<Cluster>>,
}

impl PeerServer {
    /// Creates the server and starts its housekeeping task, which ends when the last
    /// handle is dropped; in a cluster, also the task that routes messages between
    /// instances (until [`PeerServer::close`]).
    pub fn start(config: PeerServerConfig, cluster: Option<Arc<Cluster>>) -> Self {
        let interval = config.check_interval;
        let mut realm = Realm::new(config);
        let absent = cluster.as_ref().map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            realm.send_absent_to(tx);
            rx
        });
        let server = Self {
            realm: Arc::new(Mutex::new(realm)),
            next_conn: Arc::default(),
            closing: tokio_util::sync::CancellationToken::new(),
            cluster: cluster.clone(),
        };
        if let (Some(cluster), Some(absent)) = (cluster, absent) {
            tokio::spawn(crate::server::cluster::routing::run(
                server.clone(),
                cluster,
                absent,
            ));
        }
        let weak: Weak<Mutex<Realm>> = Arc::downgrade(&server.realm);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(realm) = weak.upgrade() else { break };
                realm
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .tick(Instant::now());
            }
        });
        server
    }

    /// Closes every websocket (the HTTP side stops with the server).
    pub fn close(&self) {
        self.closing.cancel();
    }

    pub(crate) fn realm(&self) -> std::sync::MutexGuard<'_, Realm> {
        self.realm.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cancelled when the server stops.
    pub(crate) fn closing(&self) -> &tokio_util::sync::CancellationToken {
        &self.closing
    }

    /// Routes under `base` (e.g. `/peerjs`), as `peer` mounts them.
    pub fn router(&self, base: &str) -> Router {
        let base = base.trim_end_matches('/');
        Router::new()
            .route(&format!("{base}/"), get(info))
            .route(&format!("{base}/{{key}}/id"), get(new_id))
            .route(&format!("{base}/{{key}}/peers"), get(peers))
            .route(&format!("{base}/peerjs"), get(upgrade))
            .with_state(self.clone())
    }

    async fn serve_socket(self, mut socket: WebSocket, query: HashMap<String, String>) {
        let conn = self
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outbox = self.realm().config().outbox;
        let (tx, mut rx) = mpsc::channel(outbox);
        let id = query.get("id").cloned().unwrap_or_default();
        let refused = self.realm().connect(
            conn,
            query.get("key").map(String::as_str),
            query.get("id").map(String::as_str),
            query.get("token").map(String::as_str),
            tx,
            Instant::now(),
        );
        let token = query.get("token").cloned().unwrap_or_default();
        let refused = match (refused, &self.cluster) {
            (Ok(()), Some(cluster)) => match cluster.claim_peer(&id, &token).await {
                Claim::Granted => {
                    cluster.announce_online(&id).await;
                    Ok(())
                }
                Claim::Moved => {
                    // `peer` sends no second OPEN to a client reconnecting with its token;
                    // new here, it was the first thing put in this channel.
                    let _open = rx.try_recv();
                    cluster.announce_online(&id).await;
                    Ok(())
                }
                Claim::Taken => {
                    self.realm().disconnect(conn, &id);
                    Err(Refusal::IdTaken)
                }
            },
            (refused, _) => refused,
        };
        if let Err(refusal) = refused {
            let _ = socket.send(Message::Text(refusal.to_json().into())).await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        let (rate, burst) = {
            let realm = self.realm();
            (realm.config().rate_per_second, realm.config().rate_burst)
        };
        let mut bucket = TokenBucket::new(rate, burst);
        loop {
            tokio::select! {
                _ = self.closing.cancelled() => break,
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if !bucket.take(Instant::now()) {
                            tracing::warn!("peerserver: {id} floods the server; disconnected");
                            break;
                        }
                        self.realm().message(conn, &id, &text, Instant::now());
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
                outgoing = rx.recv() => match outgoing {
                    Some(Outgoing::Text(text)) => {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    Some(Outgoing::Close) | None => break,
                },
            }
        }
        let gone = {
            let mut realm = self.realm();
            realm.disconnect(conn, &id);
            // Not when the same client reconnected here meanwhile.
            !realm.holds(&id)
        };
        if let (true, Some(cluster)) = (gone, &self.cluster) {
            cluster.release_peer(&id, &token).await;
        }
        let _ = socket.send(Message::Close(None)).await;
    }
}

/// Allows `rate` events per second on average and `burst` at once.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn info() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        serde_json::json!({
            "name": "PeerJS Server",
            "description": "A server side element to broker connections between PeerJS clients.",
            "website": "https://peerjs.com/"
        })
        .to_string(),
    )
}

async fn new_id() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        uuid::Uuid::new_v4().to_string(),
    )
}

async fn peers() -> impl IntoResponse {
    // Discovery is off, as in peer's default configuration.
    (
        StatusCode::UNAUTHORIZED,
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        "Unauthorized",
    )
}

/// Each PeerJS websocket's read buffer (what socketioxide uses for Socket.IO too).
const WS_READ_BUFFER: usize = 4 << 10;

async fn upgrade(
    State(server): State<PeerServer>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = server.realm().config().max_message_bytes;
    // PeerJS messages are small (an SDP is a few KiB): a 4 KiB read buffer instead of
    // tungstenite's 128 KiB default, which cost every member that much (bench/load.mjs).
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(WS_READ_BUFFER)
        .on_upgrade(move |socket| server.serve_socket(socket, query))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Peer {
        conn: u64,
        id: String,
        rx: mpsc::Receiver<Outgoing>,
    }

    impl Peer {
        fn received(&mut self) -> Vec<Value> {
            let mut out = Vec::new();
            while let Ok(m) = self.rx.try_recv() {
                match m {
                    Outgoing::Text(t) => out.push(serde_json::from_str(&t).unwrap()),
                    Outgoing::Close => out.push(Value::String("CLOSE".into())),
                }
            }
            out
        }
    }

    fn join(
        realm: &mut Realm,
        conn: u64,
        id: &str,
        token: &str,
        now: Instant,
    ) -> Result<Peer, Refusal> {
        let (tx, rx) = mpsc::channel(realm.config().outbox);
        realm.connect(conn, Some("peerjs"), Some(id), Some(token), tx, now)?;
        Ok(Peer {
            conn,
            id: id.to_string(),
            rx,
        })
    }

    fn send(realm: &mut Realm, from: &Peer, json: Value, now: Instant) {
        realm.message(from.conn, &from.id, &json.to_string(), now);
    }

    #[test]
    fn open_then_relay_with_src() {
        let t0 = Instant::now();
        let mut realm = Realm::new(PeerServerConfig::default());
        let mut a = join(&mut realm, 1, "a", "ta", t0).unwrap();
        let mut b = join(&mut realm, 2, "b", "tb", t0).unwrap();
        assert_eq!(a.received(), vec![serde_json::json!({"type": "OPEN"})]);
        b.received();
        let offer = serde_json::json!({"type": "OFFER", "dst": "b", "src": "forged", "payload": {"sdp": {"type": "offer", "sdp": "v=0"}, "connectionId": "mc_1"}});
        send(&mut realm, &a, offer, t0);
        assert_eq!(
            b.received(),
            vec![
                serde_json::json!({"type": "OFFER", "src": "a", "dst": "b", "payload": {"sdp": {"type": "offer", "sdp": "v=0"}, "connectionId": "mc_1"}})
            ]
        );
    }

    #[test]
    fn refusals_say_why() {
        let t0 = Instant::now();
        let mut realm = Realm::new(PeerServerConfig::default());
        let (tx, _rx) = mpsc::channel(4);
        assert_eq!(
            realm.connect(1, Some("peerjs"), Some("a"), None, tx.clone(), t0),
            Err(Refusal::Error(errors::INVALID_WS_PARAMETERS))
        );
        assert_eq!(
            realm.connect(1, Some("other"), Some("a"), Some("t"), tx.clone(), t0),
            Err(Refusal::Error(errors::INVALID_KEY))
        );
        assert_eq!(
            realm.connect(
                1,
                Some("peerjs"),
                Some("a\x1b[2J"),
                Some("t"),
                tx.clone(),
                t0
            ),
            Err(Refusal::Error(errors::INVALID_WS_PARAMETERS))
        );
        join(&mut realm, 2, "a", "t1", t0).unwrap();
        assert!(matches!(
            join(&mut realm, 3, "a", "t2", t0),
            Err(Refusal::IdTaken)
        ));
        // In the order `peer` writes it: type first.
        assert_eq!(
            Refusal::IdTaken.to_json(),
            r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#
        );
    }

    #[test]
    fn messages_for_absent_peers_wait_then_expire() {
        let t0 = Instant::now();
        let mut realm = Realm::new(PeerServerConfig::default());
        let mut a = join(&mut realm, 1, "a", "ta", t0).unwrap();
        a.received();
        send(
            &mut realm,
            &a,
            serde_json::json!({"type": "OFFER", "dst": "late", "payload": 1}),
            t0,
        );
        send(
            &mut realm,
            &a,
            serde_json::json!({"type": "CANDIDATE", "dst": "late", "payload": 2}),
            t0,
        );
        send(
            &mut realm,
            &a,
            serde_json::json!({"type": "OFFER", "dst": "never", "payload": 3}),
            t0,
        );
        send(
            &mut realm,
            &a,
            serde_json::json!({"type": "OFFER", "dst": "never", "payload": 4}),
            t0,
        );
        // LEAVE and EXPIRE for absent peers are dropped, not queued.
        send(
            &mut realm,
            &a,
            serde_json::json!({"type": "LEAVE", "dst": "never"}),
            t0,
        );
        let mut late = join(&mut realm, 2, "late", "tl", t0 + Duration::from_secs(1)).unwrap();
        let got = late.received();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0]["type"], "OPEN");
        assert_eq!(
            (got[1]["type"].as_str(), got[1]["payload"].as_i64()),
            (Some("OFFER"), Some(1))
        );
        assert_eq!(got[2]["type"], "CANDIDATE");
        realm.tick(t0 + Duration::from_millis(4900));
        assert!(a.received().is_empty());
        realm.tick(t0 + Duration::from_millis(5100));
        // One EXPIRE per sender and absent destination.
        assert_eq!(
            a.received(),
            vec![serde_json::json!({"type": "EXPIRE", "src": "never", "dst": "a"})]
        );
    }

    #[test]
    fn silent_clients_are_dropped_and_heartbeats_keep_them() {
        let t0 = Instant::now();
        let mut realm = Realm::new(PeerServerConfig::default());
        let mut a = join(&mut realm, 1, "a", "ta", t0).unwrap();
        let mut b = join(&mut realm, 2, "b", "tb", t0).unwrap();
        a.received();
        b.received();
        send(
            &mut realm,
            &a,
            serde_json::json!({"type": "HEARTBEAT"}),
            t0 + Duration::from_secs(60),
        );
        realm.tick(t0 + Duration::from_secs(91));
        assert_eq!(realm.client_count(), 1);
        assert_eq!(b.received(), vec![Value::String("CLOSE".into())]);
        assert!(a.received().is_empty());
    }

    #[test]
    fn a_reconnect_with_the_same_token_takes_over_without_open() {
        let t0 = Instant::now();
        let mut realm = Realm::new(PeerServerConfig::default());
        let mut old = join(&mut realm, 1, "a", "ta", t0).unwrap();
        let mut b = join(&mut realm, 2, "b", "tb", t0).unwrap();
        let mut new = join(&mut realm, 3, "a", "ta", t0).unwrap();
        assert_eq!(old.received().last(), Some(&Value::String("CLOSE".into())));
        assert!(new.received().is_empty());
        // The old socket closing later must not remove the new one.
        realm.disconnect(1, "a");
        b.received();
        send(
            &mut realm,
            &b,
            serde_json::json!({"type": "ANSWER", "dst": "a", "payload": {}}),
            t0,
        );
        assert_eq!(new.received().len(), 1);
    }

    #[test]
    fn a_full_outbox_drops_messages_and_a_closed_one_drops_the_peer() {
        let t0 = Instant::now();
        let mut realm = Realm::new(PeerServerConfig {
            outbox: 3,
            ..PeerServerConfig::default()
        });
        let mut a = join(&mut realm, 1, "a", "ta", t0).unwrap();
        let mut slow = join(&mut realm, 2, "slow", "ts", t0).unwrap();
        a.received();
        for i in 0..5 {
            send(
                &mut realm,
                &a,
                serde_json::json!({"type": "CANDIDATE", "dst": "slow", "payload": i}),
                t0,
            );
        }
        // OPEN plus two of five: the rest were dropped, and the peer stays.
        assert_eq!(slow.received().len(), 3);
        assert_eq!(realm.client_count(), 2);
        drop(slow);
        send(
            &mut realm,
            &a,
            serde_json::json!({"type": "OFFER", "dst": "slow"}),
            t0,
        );
        assert_eq!(realm.client_count(), 1);
        assert_eq!(
            a.received(),
            vec![serde_json::json!({"type": "LEAVE", "src": "slow", "dst": "a"})]
        );
    }

    #[test]
    fn garbage_is_ignored() {
        let t0 = Instant::now();
        let mut realm = Realm::new(PeerServerConfig::default());
        let a = join(&mut realm, 1, "a", "ta", t0).unwrap();
        let mut b = join(&mut realm, 2, "b", "tb", t0).unwrap();
        b.received();
        for text in [
            "",
            "null",
            "[1,2]",
            "{\"type\":5}",
            "{\"type\":\"OPEN\",\"dst\":\"b\"}",
            "{\"type\":\"OFFER\",\"dst\":7}",
            "\u{0}",
        ] {
            realm.message(a.conn, "a", text, t0);
        }
        assert!(b.received().is_empty());
        assert_eq!(realm.queues.len(), 0);
    }

    #[test]
    fn queues_are_bounded() {
        let t0 = Instant::now();
        let mut realm = Realm::new(PeerServerConfig {
            max_queued_per_peer: 2,
            max_queues: 3,
            ..PeerServerConfig::default()
        });
        let a = join(&mut realm, 1, "a", "ta", t0).unwrap();
        for i in 0..10 {
            send(
                &mut realm,
                &a,
                serde_json::json!({"type": "OFFER", "dst": format!("p{}", i % 5)}),
                t0,
            );
        }
        assert_eq!(realm.queues.len(), 3);
        assert!(realm.queues.values().all(|q| q.messages.len() <= 2));
    }

    #[test]
    fn relays_between_instances_keep_payload_numbers_exact() {
        // Found by fuzzing: without serde_json's `float_roundtrip`, a number like this one
        // came back 1 ulp off after a second hop.
        let text = format!(
            r#"{{"type":"ANSWER","src":"dave","dst":"alice","payload":{{"n":3{}}}}}"#,
            "1".repeat(121)
        );
        let relay = Relay::from_json(&text).unwrap();
        assert_eq!(Relay::from_json(&relay.to_json()), Some(relay));
    }

    #[test]
    fn token_bucket_allows_bursts_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 5.0);
        b.last = t0;
        assert_eq!((0..8).filter(|_| b.take(t0)).count(), 5);
        assert!(b.take(t0 + Duration::from_millis(100)));
        assert!(!b.take(t0 + Duration::from_millis(101)));
    }
}
