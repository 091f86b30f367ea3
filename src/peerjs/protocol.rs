//! PeerJS wire facts (as peerjs 1.3.1 / 1.5.x and the npm `peer` 1.0.2 server speak them):
//! the message types both our client and our server read and write, and the rules for ids
//! and names. No I/O; imports nothing of the client or the server.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The default API key of PeerJS clients and servers.
pub const DEFAULT_KEY: &str = "peerjs";

/// Longest peer id we accept. PeerServer ids are 36-character UUIDs; clients may choose
/// their own, but nothing sane is longer than this.
pub const MAX_ID_LEN: usize = 64;

/// Server error texts, word for word as `peer` sends them in `ERROR` messages.
pub mod errors {
    pub const INVALID_KEY: &str = "Invalid key provided";
    pub const INVALID_WS_PARAMETERS: &str = "No id, token, or key supplied to websocket server";
    pub const CONNECTION_LIMIT_EXCEED: &str = "Server has reached its concurrent user limit";
    pub const ID_TAKEN: &str = "ID is taken";
}

/// A message's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MessageType {
    /// Server to client: registered.
    Open,
    /// Server to client: refused (`payload.msg` says why).
    Error,
    /// Server to client: someone else has this id.
    #[serde(rename = "ID-TAKEN")]
    IdTaken,
    /// Client to server: still here.
    Heartbeat,
    Offer,
    Answer,
    Candidate,
    /// The sender hung up or left.
    Leave,
    /// Server to client: a message to this peer could not be delivered in time.
    Expire,
}

impl MessageType {
    pub fn parse(s: &str) -> Option<MessageType> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Open => "OPEN",
            MessageType::Error => "ERROR",
            MessageType::IdTaken => "ID-TAKEN",
            MessageType::Heartbeat => "HEARTBEAT",
            MessageType::Offer => "OFFER",
            MessageType::Answer => "ANSWER",
            MessageType::Candidate => "CANDIDATE",
            MessageType::Leave => "LEAVE",
            MessageType::Expire => "EXPIRE",
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `type` field: one we know, or any other string (kept to say what was refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TypeField {
    Known(MessageType),
    Unknown(String),
}

/// One message on a PeerJS websocket, either way: `{"type", "src", "dst", "payload"}` in
/// the order npm `peer` writes them. Clients send no `src` (the server names the sender);
/// a `src` or `dst` that is not a string reads as none. The payload stays JSON: a server
/// relays it untouched, and a client reads it as [`ConnectionPayload`] or [`ErrorPayload`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: TypeField,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_none"
    )]
    pub src: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_none"
    )]
    pub dst: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

impl Envelope {
    /// A message of `kind` with nothing else.
    pub fn new(kind: MessageType) -> Envelope {
        Envelope {
            kind: TypeField::Known(kind),
            src: None,
            dst: None,
            payload: None,
        }
    }

    /// Reads one websocket text; `None` unless it is a JSON object with a string `type`.
    pub fn parse(text: &str) -> Option<Envelope> {
        serde_json::from_str(text).ok()
    }

    /// The message's type, if it is one we know.
    pub fn known(&self) -> Option<MessageType> {
        match self.kind {
            TypeField::Known(kind) => Some(kind),
            TypeField::Unknown(_) => None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Any JSON value, kept only if it is a string.
fn string_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// The payload of `ERROR` and `ID-TAKEN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPayload {
    pub msg: String,
}

/// An SDP offer or answer as PeerJS carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

/// A trickled ICE candidate as browsers serialize `RTCIceCandidate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(rename = "sdpMid", default)]
    pub sdp_mid: Option<String>,
    #[serde(rename = "sdpMLineIndex", default)]
    pub sdp_mline_index: Option<u16>,
    #[serde(
        rename = "usernameFragment",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub username_fragment: Option<String>,
}

/// The payload of `OFFER`, `ANSWER` (with `sdp`) and `CANDIDATE` (with `candidate`), as
/// peerjs 1.3.1 and 1.5.x send them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionPayload {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<ConnectionType>,
    #[serde(rename = "connectionId")]
    pub connection_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp: Option<SessionDescription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<IceCandidate>,
    /// PeerJS names its browser here; we say `packspaces/VERSION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// The caller's `options.metadata`; packspaces sends `{"name": …}` (see
    /// [`name_from_metadata`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// What a PeerJS connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionType {
    Media,
    Data,
}

/// The PeerJS connection id rule we accept: 1-64 letters, digits, `_` or `-` (peerjs makes
/// `mc_` or `dc_` plus random letters and digits).
pub fn is_valid_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CONNECTION_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Longest connection id we accept.
pub const MAX_CONNECTION_ID_LEN: usize = 64;

/// The display name in a call's PeerJS metadata, if any (whoever shows it sanitizes it).
pub fn name_from_metadata(metadata: Option<&Value>) -> Option<String> {
    metadata?
        .get("name")?
        .as_str()
        .map(str::to_string)
        .filter(|n| !n.trim().is_empty())
}

/// The PeerJS client's id rule (`util.validateId`): letters and digits, in groups joined
/// by single spaces, underscores or dashes (`/^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$/`),
/// here also at most [`MAX_ID_LEN`] characters.
pub fn is_valid_id(id: &str) -> bool {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return false;
    }
    let mut previous_was_separator = true;
    for c in id.chars() {
        if c.is_ascii_alphanumeric() {
            previous_was_separator = false;
        } else if matches!(c, ' ' | '_' | '-') && !previous_was_separator {
            previous_was_separator = true;
        } else {
            return false;
        }
    }
    !previous_was_separator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_peerjs_client_rule() {
        for ok in [
            "a",
            "3f2c1e9a-8b7d-4c6e-9f0a-1b2c3d4e5f60",
            "tom_1",
            "A b-c",
        ] {
            assert!(is_valid_id(ok), "{ok:?}");
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "a b ",
            "é",
            "a\x1b[2Jb",
            "a/b",
            long.as_str(),
        ] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn message_types_round_trip() {
        for t in [
            "OPEN",
            "ERROR",
            "ID-TAKEN",
            "HEARTBEAT",
            "OFFER",
            "ANSWER",
            "CANDIDATE",
            "LEAVE",
            "EXPIRE",
        ] {
            let kind = MessageType::parse(t).unwrap();
            assert_eq!(kind.as_str(), t);
            assert_eq!(serde_json::to_value(kind).unwrap(), Value::String(t.into()));
        }
        assert_eq!(MessageType::parse("offer"), None);
        assert_eq!(MessageType::parse("BOGUS"), None);
    }

    #[test]
    fn envelopes_read_leniently_and_write_as_peer_does() {
        let e = Envelope::parse(r#"{"type":"OFFER","src":5,"dst":"b","payload":{"x":1}}"#).unwrap();
        assert_eq!(e.known(), Some(MessageType::Offer));
        assert_eq!((e.src, e.dst.as_deref()), (None, Some("b")));
        let e = Envelope::parse(r#"{"type":"BOGUS"}"#).unwrap();
        assert_eq!(e.kind, TypeField::Unknown("BOGUS".into()));
        assert_eq!(e.payload, None);
        for bad in ["nope", "[1]", r#"{"type":5}"#, r#"{"src":"a"}"#] {
            assert_eq!(Envelope::parse(bad), None, "{bad}");
        }
        let relay = Envelope {
            kind: TypeField::Known(MessageType::Leave),
            src: Some("a".into()),
            dst: Some("b".into()),
            payload: None,
        };
        assert_eq!(relay.to_json(), r#"{"type":"LEAVE","src":"a","dst":"b"}"#);
        assert_eq!(
            Envelope::new(MessageType::Heartbeat).to_json(),
            r#"{"type":"HEARTBEAT"}"#
        );
    }

    #[test]
    fn connection_ids_and_names() {
        assert!(is_valid_connection_id("mc_x1-Z"));
        for bad in ["", "x y", "a\u{1b}", &"a".repeat(65)] {
            assert!(!is_valid_connection_id(bad), "{bad:?}");
        }
        let meta = serde_json::json!({"name": "Ada"});
        assert_eq!(name_from_metadata(Some(&meta)).as_deref(), Some("Ada"));
        for none in [
            serde_json::json!({"name": "  "}),
            serde_json::json!({"name": 5}),
            serde_json::json!(1),
        ] {
            assert_eq!(name_from_metadata(Some(&none)), None);
        }
    }
}
