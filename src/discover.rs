//! One address is enough: a packspaces server says where its PeerJS server is and which ICE
//! servers its calls use, at `/packspaces.json` on the page's origin. Any other backend
//! (the workshop's Node server) says nothing there, and the workshop's defaults apply.
//! The document is untrusted input: checked field by field, refused in one line.

use serde::{Deserialize, Serialize};

use crate::text::sanitize;

use crate::ice::IceServer;
use crate::net::{Endpoint, NetError, connect_websocket, http_get};

/// Where the document is, on the page's origin.
pub const PATH: &str = "/packspaces.json";

/// The version of the document this build writes and reads.
pub const VERSION: u32 = 1;

/// Longest document read.
const MAX_BYTES: usize = 16 << 10;
/// How long to wait for the document: a backend that never answers unknown paths (a bare
/// Socket.IO server) costs a terminal this much at start, then the defaults apply.
const WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// What a packspaces server tells its clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// Marks the document as ours, and its version.
    pub packspaces: u32,
    pub peerjs: PeerJsInfo,
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
}

/// The PeerJS server, on the same origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerJsInfo {
    /// Its path, e.g. `/peerjs`.
    pub path: String,
    pub key: String,
}

/// Why a server's document was refused.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{url} is a packspaces document we cannot use: {reason}")]
    Malformed { url: String, reason: String },
    #[error(
        "{origin} is not a PackSpaces backend: it has no {PATH} and no Socket.IO server at /socket.io/"
    )]
    NotABackend { origin: String },
    #[error(transparent)]
    Net(NetError),
}

impl ServerInfo {
    /// The document `serve` publishes.
    pub fn new(peer_path: &str, peer_key: &str, ice_servers: &[IceServer]) -> ServerInfo {
        ServerInfo {
            packspaces: VERSION,
            peerjs: PeerJsInfo {
                path: peer_path.to_string(),
                key: peer_key.to_string(),
            },
            ice_servers: ice_servers.to_vec(),
        }
    }

    /// Reads a document: `Ok(None)` when it is not ours (another backend's page, its 404
    /// text, any JSON without our marker), an error when it is ours but unusable.
    pub fn parse(text: &str) -> Result<Option<ServerInfo>, String> {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            return Ok(None);
        };
        if value.get("packspaces").is_none() {
            return Ok(None);
        }
        let info: ServerInfo = serde_json::from_value(value).map_err(|e| e.to_string())?;
        info.check()?;
        Ok(Some(info))
    }

    fn check(&self) -> Result<(), String> {
        if self.packspaces != VERSION {
            return Err(format!(
                "version {} (this packspaces reads version {VERSION}; update it)",
                self.packspaces
            ));
        }
        let path = &self.peerjs.path;
        if !path.starts_with('/')
            || path.len() > 200
            || !path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c))
        {
            return Err(format!("bad PeerJS path {:?}", sanitize(path, 80)));
        }
        let key = &self.peerjs.key;
        if key.is_empty()
            || key.len() > 64
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            return Err(format!("bad PeerJS key {:?}", sanitize(key, 80)));
        }
        crate::ice::check(&self.ice_servers).map_err(|e| e.to_string())
    }
}

/// Asks the server at `origin` (the space URL's) what it is. `Ok(None)`: another
/// PackSpaces backend (the workshop's: no document, but Socket.IO answers). An error when
/// the server cannot be reached at all, TLS refuses it, or it is neither (someone else's
/// web server): whatever the terminal did next would fail too, and further from the address
/// the user typed (at the PeerJS cloud, for one).
pub async fn discover(origin: &Endpoint) -> Result<Option<ServerInfo>, DiscoverError> {
    match read_document(origin).await? {
        Some(info) => Ok(Some(info)),
        None if speaks_socketio(origin).await => Ok(None),
        None => Err(DiscoverError::NotABackend {
            origin: sanitize(&origin.url(false, "/"), 200),
        }),
    }
}

/// Whether a Socket.IO server (Engine.IO 4) answers at `origin`'s `/socket.io/`, as the
/// workshop's backend does: over a websocket (it allows no other transport), its first
/// message is the open packet, `0{"sid":…}`.
async fn speaks_socketio(origin: &Endpoint) -> bool {
    use futures_util::StreamExt;
    let url = origin.url(true, "/socket.io/?EIO=4&transport=websocket");
    let probe = async {
        let mut socket = connect_websocket(&url, &origin.trust).await.ok()?;
        let first = socket.next().await?.ok()?;
        let _ = socket.close(None).await;
        let text = first.into_text().ok()?;
        Some(text.starts_with("0{") && text.contains("\"sid\""))
    };
    matches!(tokio::time::timeout(WAIT, probe).await, Ok(Some(true)))
}

/// The document at `origin`, if there is one of ours (see [`discover`]).
async fn read_document(origin: &Endpoint) -> Result<Option<ServerInfo>, DiscoverError> {
    let url = origin.url(false, PATH);
    let answer = tokio::time::timeout(WAIT, http_get(&url, MAX_BYTES, &origin.trust)).await;
    let Ok(answer) = answer else {
        tracing::info!("no packspaces document at {url}: no answer within {WAIT:?}");
        return Ok(None);
    };
    let text = match answer {
        Ok(text) => text,
        Err(e @ NetError::Connect { .. }) => return Err(DiscoverError::Net(e)),
        Err(e) => {
            tracing::info!("no packspaces document at {url}: {e}");
            return Ok(None);
        }
    };
    ServerInfo::parse(&text).map_err(|reason| DiscoverError::Malformed { url, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_document_round_trips_and_others_are_not_ours() {
        let ours = ServerInfo::new(
            "/peerjs",
            "peerjs",
            &[IceServer::stun("stun:10.0.0.5:3478")],
        );
        let text = serde_json::to_string(&ours).unwrap();
        assert!(
            text.contains("\"iceServers\":[{\"urls\":\"stun:10.0.0.5:3478\"}]"),
            "{text}"
        );
        assert_eq!(ServerInfo::parse(&text).unwrap(), Some(ours));
        // The workshop's Express 404, a page served for every path, someone else's JSON.
        for other in [
            "Cannot GET /packspaces.json",
            "<!doctype html><html>",
            "{\"ok\":true}",
            "[]",
            "",
        ] {
            assert_eq!(ServerInfo::parse(other).unwrap(), None, "{other}");
        }
    }

    #[test]
    fn garbage_in_our_document_is_refused_with_the_reason() {
        let cases = [
            (r#"{"packspaces":1}"#, "missing field `peerjs`"),
            (
                r#"{"packspaces":2,"peerjs":{"path":"/p","key":"k"}}"#,
                "version 2",
            ),
            (
                r#"{"packspaces":1,"peerjs":{"path":"peerjs","key":"k"}}"#,
                "bad PeerJS path",
            ),
            (
                r#"{"packspaces":1,"peerjs":{"path":"/p\u001b[2J","key":"k"}}"#,
                "bad PeerJS path",
            ),
            (
                r#"{"packspaces":1,"peerjs":{"path":"/p","key":""}}"#,
                "bad PeerJS key",
            ),
            (
                r#"{"packspaces":1,"peerjs":{"path":"/p","key":"k"},"iceServers":[{"urls":"http://x"}]}"#,
                "expected stun:",
            ),
            (
                r#"{"packspaces":1,"peerjs":{"path":"/p","key":"k"},"iceServers":7}"#,
                "invalid type",
            ),
            (
                r#"{"packspaces":"yes","peerjs":{"path":"/p","key":"k"}}"#,
                "invalid type",
            ),
        ];
        for (text, want) in cases {
            let err = ServerInfo::parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
            assert!(!err.contains('\x1b') && !err.contains('\n'), "{err:?}");
        }
    }
}
