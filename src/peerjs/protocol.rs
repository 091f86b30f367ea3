//! PeerJS wire facts (as peerjs 1.3.1 / 1.5.x and the npm `peer` 1.0.2 server speak them).

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

/// Message types the server relays between peers (`HEARTBEAT` only keeps a client alive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Heartbeat,
    Offer,
    Answer,
    Candidate,
    Leave,
    Expire,
}

impl MessageType {
    pub fn parse(s: &str) -> Option<MessageType> {
        Some(match s {
            "HEARTBEAT" => MessageType::Heartbeat,
            "OFFER" => MessageType::Offer,
            "ANSWER" => MessageType::Answer,
            "CANDIDATE" => MessageType::Candidate,
            "LEAVE" => MessageType::Leave,
            "EXPIRE" => MessageType::Expire,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Heartbeat => "HEARTBEAT",
            MessageType::Offer => "OFFER",
            MessageType::Answer => "ANSWER",
            MessageType::Candidate => "CANDIDATE",
            MessageType::Leave => "LEAVE",
            MessageType::Expire => "EXPIRE",
        }
    }
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
            "HEARTBEAT",
            "OFFER",
            "ANSWER",
            "CANDIDATE",
            "LEAVE",
            "EXPIRE",
        ] {
            assert_eq!(MessageType::parse(t).map(MessageType::as_str), Some(t));
        }
        assert_eq!(MessageType::parse("OPEN"), None);
        assert_eq!(MessageType::parse("offer"), None);
    }
}
