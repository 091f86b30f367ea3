//! Socket.IO spaces, wire-compatible with the workshop backend: `join-space(peerId)` joins
//! the single default space, `join-space(space, peerId)` joins a named one (a socket.io
//! room); `user-connected` / `user-disconnected` reach the *other* members of that space
//! only. A newcomer is also told who is already there with `space-members` (an event the
//! workshop page simply ignores).
//!
//! In a cluster (`serve --redis`) the same handlers run over the Redis adapter, so these
//! events reach members at every instance, and `space-members` comes from the cluster's
//! record of the space ([`crate::server::cluster::presence`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::socket::Sid;

use crate::peerjs::protocol::is_valid_id;
use crate::server::chat::{self, ChatError, FloodGate, Relayed, Sent};
use crate::server::cluster::presence::Announcement;
use crate::server::cluster::{Cluster, ClusterAdapter};
use crate::space::protocol::{
    CHAT_MESSAGE, JOIN_SPACE, SPACE_ERROR, SPACE_MEMBERS, USER_CONNECTED, USER_DISCONNECTED,
};
use crate::space::protocol::{DEFAULT_SPACE, clean_name, is_valid_space};

/// `join-space` calls one socket may make per minute; more is abuse.
const JOINS_PER_MINUTE: usize = 30;

/// One participant as the server knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub peer_id: String,
    /// The name it gave (cleaned), if any.
    pub name: Option<String>,
    pub joined: SystemTime,
}

/// The arguments of `join-space`, however many the client sent (up to three kept).
#[derive(Debug)]
pub(crate) struct JoinArgs(pub(crate) Vec<Value>);

impl<'de> Deserialize<'de> for JoinArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = JoinArgs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JoinArgs, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<Value>()? {
                    if args.len() < 3 {
                        args.push(arg);
                    }
                }
                Ok(JoinArgs(args))
            }
        }
        // Asking for a tuple makes socketioxide hand over every argument (without the
        // event name) instead of only the first.
        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

/// Why a `join-space` was refused (sent back as `space-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error(
        "join-space takes (peerId) or (space, peerId) as strings, then {{\"name\"}} if you like"
    )]
    BadArguments,
    #[error("space names are 1-64 letters, digits, '-' or '_'")]
    BadSpace,
    #[error("peer ids are letters and digits joined by single ' ', '_' or '-' (at most 64)")]
    BadPeerId,
    #[error("too many join-space calls; slow down")]
    TooMany,
}

/// A `join-space` as read: the space, the peer id and the name it gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct JoinRequest {
    pub(crate) space: String,
    pub(crate) peer: String,
    pub(crate) name: Option<String>,
}

/// Reads `(peerId)` or `(space, peerId)`, either followed by `{"name": …}` (a name that is
/// not a string is no name).
pub(crate) fn parse_join(args: &[Value]) -> Result<JoinRequest, JoinError> {
    let (ids, name) = match args {
        [ids @ .., Value::Object(extra)] => (ids, extra.get("name").and_then(Value::as_str)),
        ids => (ids, None),
    };
    let (space, peer) = match ids {
        [Value::String(peer)] => (DEFAULT_SPACE, peer),
        [Value::String(space), Value::String(peer)] => (space.as_str(), peer),
        _ => return Err(JoinError::BadArguments),
    };
    if space != DEFAULT_SPACE && !is_valid_space(space) {
        return Err(JoinError::BadSpace);
    }
    if !is_valid_id(peer) {
        return Err(JoinError::BadPeerId);
    }
    Ok(JoinRequest {
        space: space.to_string(),
        peer: peer.clone(),
        name: name.and_then(clean_name),
    })
}

/// Who is in which space. Pure bookkeeping; the handlers below do the emitting.
#[derive(Debug, Default)]
pub struct Spaces {
    members: HashMap<String, Vec<(Sid, Member)>>,
    joined: HashMap<Sid, String>,
    recent_joins: HashMap<Sid, Vec<Instant>>,
    chat_gates: HashMap<Sid, FloodGate>,
}

/// What a join changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Joined {
    /// The space and peer id this socket had before, if it moved.
    pub left: Option<(String, String)>,
    /// Who is already in the new space: peer ids and names.
    pub others: Vec<(String, Option<String>)>,
}

impl Spaces {
    pub fn join(
        &mut self,
        sid: Sid,
        space: &str,
        peer_id: &str,
        name: Option<&str>,
        now: Instant,
    ) -> Result<Joined, JoinError> {
        let recent = self.recent_joins.entry(sid).or_default();
        recent.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
        if recent.len() >= JOINS_PER_MINUTE {
            return Err(JoinError::TooMany);
        }
        recent.push(now);
        let left = self.leave(sid);
        let members = self.members.entry(space.to_string()).or_default();
        let others = members
            .iter()
            .map(|(_, m)| (m.peer_id.clone(), m.name.clone()))
            .collect();
        members.push((
            sid,
            Member {
                peer_id: peer_id.to_string(),
                name: name.map(str::to_string),
                joined: SystemTime::now(),
            },
        ));
        self.joined.insert(sid, space.to_string());
        Ok(Joined { left, others })
    }

    /// Removes the socket from its space; returns (space, peer id) if it was in one.
    pub fn leave(&mut self, sid: Sid) -> Option<(String, String)> {
        let space = self.joined.remove(&sid)?;
        let members = self.members.get_mut(&space)?;
        let index = members.iter().position(|(s, _)| *s == sid)?;
        let (_, member) = members.remove(index);
        if members.is_empty() {
            self.members.remove(&space);
        }
        Some((space, member.peer_id))
    }

    /// Forgets everything about a socket that went away.
    pub fn forget(&mut self, sid: Sid) -> Option<(String, String)> {
        self.recent_joins.remove(&sid);
        self.chat_gates.remove(&sid);
        self.leave(sid)
    }

    /// A chat message from socket `sid` at `now` (counted against its flood limit, refused
    /// or not): the space it speaks in and who it is, or why not.
    pub fn chat(&mut self, sid: Sid, now: Instant) -> Result<(String, Member), ChatError> {
        if !self.chat_gates.entry(sid).or_default().allow(now) {
            return Err(ChatError::TooMany);
        }
        let space = self.joined.get(&sid).ok_or(ChatError::NotInASpace)?;
        let member = self
            .members
            .get(space)
            .and_then(|m| m.iter().find(|(s, _)| *s == sid))
            .map(|(_, m)| m.clone())
            .ok_or(ChatError::NotInASpace)?;
        Ok((space.clone(), member))
    }

    /// (space, member) of every member.
    pub fn all(&self) -> Vec<(String, Member)> {
        self.members
            .iter()
            .flat_map(|(space, members)| {
                members.iter().map(move |(_, m)| (space.clone(), m.clone()))
            })
            .collect()
    }

    pub fn members(&self, space: &str) -> Vec<Member> {
        self.members
            .get(space)
            .map(|m| m.iter().map(|(_, m)| m.clone()).collect())
            .unwrap_or_default()
    }
}

/// The socket.io room of a space.
fn room(space: &str) -> String {
    format!("space:{space}")
}

/// The socket.io room of every socket connected to one instance of a cluster.
fn instance_room(node: &str) -> String {
    format!("instance:{node}")
}

/// Registers the default namespace's handlers on `io`.
pub fn attach(io: &SocketIo, spaces: Arc<Mutex<Spaces>>) {
    io.ns(
        "/",
        (async || {}).with(register_first::<LocalAdapter>(spaces, None)),
    );
}

/// Registers the default namespace's handlers on a clustered `io`; resolves once the
/// adapter listens to the other instances.
pub async fn attach_clustered(
    io: &SocketIo<ClusterAdapter>,
    spaces: Arc<Mutex<Spaces>>,
    cluster: Arc<Cluster>,
) -> Result<(), String> {
    io.ns(
        "/",
        (async || {}).with(register_first::<ClusterAdapter>(spaces, Some(cluster))),
    )
    .await
    .map_err(|e| e.to_string())
}

/// The event handlers are attached in a connect *middleware*: socketioxide sends the
/// connect acknowledgement before it runs the connect handler, so a client that emits
/// `join-space` the moment it is accepted could otherwise beat the registration, and its
/// join would be lost. Middlewares run before the acknowledgement.
fn register_first<A: Adapter>(
    spaces: Arc<Mutex<Spaces>>,
    cluster: Option<Arc<Cluster>>,
) -> impl Fn(SocketRef<A>) -> std::future::Ready<Result<(), std::convert::Infallible>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |socket: SocketRef<A>| {
        register(socket, spaces.clone(), cluster.clone());
        std::future::ready(Ok(()))
    }
}

/// Registers one connected socket's event handlers.
fn register<A: Adapter>(
    socket: SocketRef<A>,
    spaces: Arc<Mutex<Spaces>>,
    cluster: Option<Arc<Cluster>>,
) {
    if let Some(cluster) = &cluster {
        socket.join(instance_room(&cluster.node));
    }
    let on_join = (spaces.clone(), cluster.clone());
    socket.on(
        JOIN_SPACE,
        move |socket: SocketRef<A>, TryData(args): TryData<JoinArgs>| {
            let (spaces, cluster) = on_join.clone();
            async move { join_space(socket, args.map(|a| a.0), spaces, cluster).await }
        },
    );
    let on_chat = spaces.clone();
    socket.on(
        CHAT_MESSAGE,
        move |socket: SocketRef<A>, TryData(sent): TryData<Sent>| {
            let spaces = on_chat.clone();
            async move { chat_message(socket, sent.map(|s| s.text), spaces).await }
        },
    );
    socket.on_disconnect(move |socket: SocketRef<A>| {
        let spaces = spaces.clone();
        let cluster = cluster.clone();
        async move {
            let left = spaces
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .forget(socket.id);
            if let Some((space, peer)) = left {
                tracing::info!("space {space:?}: {peer} left");
                if let Some(cluster) = &cluster {
                    cluster.space_left(&space, &peer).await;
                }
                let _ = socket.to(room(&space)).emit(USER_DISCONNECTED, &peer).await;
            }
        }
    });
}

/// Relays a member's chat message to everyone in its space (the sender too), at every
/// instance; refusals go back as `space-error`, and a flooding socket is cut off.
async fn chat_message<A: Adapter>(
    socket: SocketRef<A>,
    text: Result<String, impl std::fmt::Display>,
    spaces: Arc<Mutex<Spaces>>,
) {
    let place = spaces
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .chat(socket.id, Instant::now());
    let checked = place.and_then(|(space, member)| {
        let text = text.map_err(|_| ChatError::BadMessage)?;
        chat::check(&text)?;
        Ok((space, member, text))
    });
    let (space, from, text) = match checked {
        Ok(c) => c,
        Err(e) => {
            let _ = socket.emit(SPACE_ERROR, &e.to_string());
            if e == ChatError::TooMany {
                tracing::info!("chat flood from {}: disconnected", socket.id);
                disconnect_soon(socket);
            }
            return;
        }
    };
    let relayed = Relayed {
        from: from.peer_id,
        name: from.name,
        text,
        time: chat::now_rfc3339(),
    };
    let _ = socket
        .within(room(&space))
        .emit(CHAT_MESSAGE, &relayed)
        .await;
}

/// Disconnects `socket` after a moment, so that the reason sent just before reaches it.
fn disconnect_soon<A: Adapter>(socket: SocketRef<A>) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = socket.disconnect();
    });
}

/// Tells a space's members, at every instance, what the cluster learned (see
/// [`Announcement`]).
pub async fn announce(io: &SocketIo<ClusterAdapter>, node: &str, announcement: Announcement) {
    let sent = match &announcement {
        Announcement::Gone { space, peer } => {
            tracing::info!("space {space:?}: {peer} left (its instance died)");
            io.to(room(space)).emit(USER_DISCONNECTED, peer).await
        }
        Announcement::Back { space, peer, name } => {
            io.to(room(space))
                .except(instance_room(node))
                .emit(USER_CONNECTED, &(peer, name))
                .await
        }
    };
    if let Err(e) = sent {
        tracing::warn!("cluster: could not announce {announcement:?}: {e}");
    }
}

async fn join_space<A: Adapter>(
    socket: SocketRef<A>,
    args: Result<Vec<Value>, impl std::fmt::Display>,
    spaces: Arc<Mutex<Spaces>>,
    cluster: Option<Arc<Cluster>>,
) {
    until_marked_connected(&socket).await;
    let parsed = args
        .map_err(|_| JoinError::BadArguments)
        .and_then(|args| parse_join(&args));
    let joined = parsed.and_then(|request| {
        spaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join(
                socket.id,
                &request.space,
                &request.peer,
                request.name.as_deref(),
                Instant::now(),
            )
            .map(|j| (request, j))
    });
    let (JoinRequest { space, peer, name }, joined) = match joined {
        Ok(j) => j,
        Err(e) => {
            tracing::info!("refused join-space from {}: {e}", socket.id);
            let _ = socket.emit(SPACE_ERROR, &e.to_string());
            if e == JoinError::TooMany {
                disconnect_soon(socket);
            }
            return;
        }
    };
    if let Some((old_space, old_peer)) = &joined.left {
        socket.leave(room(old_space));
        let _ = socket
            .to(room(old_space))
            .emit(USER_DISCONNECTED, old_peer)
            .await;
    }
    let mut others = joined.others;
    if let Some(cluster) = &cluster {
        let left = joined.left.as_ref().map(|(s, p)| (s.as_str(), p.as_str()));
        // Without Redis, the members here are all we know.
        if let Some(everyone) = cluster
            .space_joined(&space, &peer, name.as_deref(), left)
            .await
        {
            for member in everyone {
                match others.iter_mut().find(|(id, _)| *id == member.0) {
                    Some(known) => known.1 = known.1.take().or(member.1),
                    None => others.push(member),
                }
            }
        }
    }
    tracing::info!("space {space:?}: {peer} joined, {} there", others.len());
    let ids: Vec<&str> = others.iter().map(|(id, _)| id.as_str()).collect();
    let names: HashMap<&str, &str> = others
        .iter()
        .filter_map(|(id, name)| Some((id.as_str(), name.as_deref()?)))
        .collect();
    // A tuple is two event arguments: the workshop's clients read only the first.
    let _ = socket.emit(SPACE_MEMBERS, &(ids, names));
    let _ = socket
        .to(room(&space))
        .emit(USER_CONNECTED, &(&peer, &name))
        .await;
    socket.join(room(&space));
}

/// socketioxide marks a socket connected just *after* sending the namespace's
/// acknowledgement, so a client that answers it at once with `join-space` can be handled in
/// between, on another worker thread; every emit to it then fails as "closed" and the
/// newcomer never gets its member list. Waits for the mark (a few milliseconds at most).
async fn until_marked_connected<A: Adapter>(socket: &SocketRef<A>) {
    for _ in 0..100 {
        if socket.connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn join_arguments_follow_both_wire_forms() {
        let request = |space: &str, peer: &str, name: Option<&str>| JoinRequest {
            space: space.into(),
            peer: peer.into(),
            name: name.map(str::to_string),
        };
        assert_eq!(parse_join(&[json!("abc")]), Ok(request("", "abc", None)));
        assert_eq!(
            parse_join(&[json!("CSC342"), json!("abc")]),
            Ok(request("CSC342", "abc", None))
        );
        assert_eq!(
            parse_join(&[json!("abc"), json!({"name": " Ada\u{1b}[2J "})]),
            Ok(request("", "abc", Some("Ada[2J")))
        );
        assert_eq!(
            parse_join(&[json!("CSC342"), json!("abc"), json!({"name": "Ada"})]),
            Ok(request("CSC342", "abc", Some("Ada")))
        );
        assert_eq!(
            parse_join(&[json!("CSC342"), json!("abc"), json!({"name": 5})]),
            Ok(request("CSC342", "abc", None))
        );
        assert_eq!(
            parse_join(&[json!({"name": "Ada"})]),
            Err(JoinError::BadArguments)
        );
        assert_eq!(parse_join(&[]), Err(JoinError::BadArguments));
        assert_eq!(parse_join(&[json!(5)]), Err(JoinError::BadArguments));
        assert_eq!(
            parse_join(&[json!("a"), json!("b"), json!("c")]),
            Err(JoinError::BadArguments)
        );
        assert_eq!(
            parse_join(&[json!("../x"), json!("abc")]),
            Err(JoinError::BadSpace)
        );
        assert_eq!(parse_join(&[json!("\u{1b}[2J")]), Err(JoinError::BadPeerId));
        assert_eq!(
            parse_join(&[json!("x".repeat(65)), json!("a")]),
            Err(JoinError::BadSpace)
        );
    }

    #[test]
    fn members_are_tracked_per_space_and_moves_leave_the_old_space() {
        let mut s = Spaces::default();
        let (a, b, c) = (Sid::new(), Sid::new(), Sid::new());
        let t = Instant::now();
        assert_eq!(s.join(a, "x", "pa", Some("Ada"), t).unwrap().others, vec![]);
        assert_eq!(
            s.join(b, "x", "pb", None, t).unwrap().others,
            vec![("pa".to_string(), Some("Ada".to_string()))]
        );
        assert_eq!(s.join(c, "y", "pc", None, t).unwrap().others, vec![]);
        let moved = s.join(b, "y", "pb", None, t).unwrap();
        assert_eq!(moved.left, Some(("x".into(), "pb".into())));
        assert_eq!(moved.others, vec![("pc".to_string(), None)]);
        assert_eq!(s.members("x").len(), 1);
        assert_eq!(s.forget(a), Some(("x".into(), "pa".into())));
        assert!(s.members("x").is_empty());
        assert_eq!(s.forget(a), None);
    }

    #[test]
    fn join_floods_are_refused() {
        let mut s = Spaces::default();
        let a = Sid::new();
        let t = Instant::now();
        for _ in 0..JOINS_PER_MINUTE {
            s.join(a, "x", "pa", None, t).unwrap();
        }
        assert_eq!(s.join(a, "x", "pa", None, t), Err(JoinError::TooMany));
        assert!(
            s.join(a, "x", "pa", None, t + Duration::from_secs(61))
                .is_ok()
        );
    }

    #[test]
    fn space_names_are_restricted() {
        assert!(is_valid_space("CSC342") && is_valid_space("a-b_c"));
        assert!(!is_valid_space("") && !is_valid_space("a b") && !is_valid_space("a/b"));
    }
}
