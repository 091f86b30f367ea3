//! The Engine.IO 4 / Socket.IO 5 text packets a space client reads and writes over a
//! websocket, for the default namespace only: pure, no I/O (the connection is in
//! [`super`]). Every packet comes from the network and is checked here.

use std::time::Duration;

use serde_json::Value;

use super::SpaceEvent;
use super::protocol::{JOIN_SPACE, SPACE_ERROR, SPACE_MEMBERS, USER_CONNECTED, USER_DISCONNECTED};
use crate::peerjs::protocol::is_valid_id;

/// Socket.IO: connect to the default namespace (sent after the Engine.IO open packet).
pub const CONNECT: &str = "40";
/// Socket.IO: leave the default namespace.
pub const DISCONNECT: &str = "41";
/// Engine.IO: the answer to the server's ping.
pub const PONG: &str = "3";

/// The Engine.IO open packet (`0{"sid":…,"pingInterval":…,"pingTimeout":…}`): how long
/// the server may stay silent before it counts as gone (its ping interval plus its
/// timeout; socket.io's defaults when it does not say). `None` if this is not one.
pub fn parse_handshake(open: &str) -> Option<Duration> {
    let handshake: Value = serde_json::from_str(open.strip_prefix('0')?).ok()?;
    if !handshake.is_object() {
        return None;
    }
    let ping_interval = handshake["pingInterval"].as_u64().unwrap_or(25_000);
    let ping_timeout = handshake["pingTimeout"].as_u64().unwrap_or(20_000);
    Some(Duration::from_millis(
        ping_interval.saturating_add(ping_timeout),
    ))
}

/// The `join-space` event as the workshop page sends it.
pub fn join_packet(space: Option<&str>, peer_id: &str) -> String {
    let args = match space {
        Some(space) => serde_json::json!([JOIN_SPACE, space, peer_id]),
        None => serde_json::json!([JOIN_SPACE, peer_id]),
    };
    format!("42{args}")
}

/// An Engine.IO text packet, as far as a space client cares.
#[derive(Debug, PartialEq)]
pub enum Packet {
    Ping,
    Connected,
    ConnectError(String),
    Closed,
    Event(String, Vec<Value>),
    Other,
}

/// Parses an Engine.IO text packet carrying Socket.IO for the default namespace.
pub fn parse_packet(text: &str) -> Packet {
    match text.as_bytes().first() {
        Some(b'2') => return Packet::Ping,
        Some(b'1') => return Packet::Closed,
        Some(b'4') => {}
        _ => return Packet::Other,
    }
    let sio = &text[1..];
    match sio.as_bytes().first() {
        Some(b'0') => Packet::Connected,
        Some(b'1') => Packet::Closed,
        Some(b'4') => Packet::ConnectError(sio[1..].chars().take(200).collect()),
        Some(b'2') => {
            // Optional ack id digits before the JSON array; other namespaces are ignored.
            let json = sio[1..].trim_start_matches(|c: char| c.is_ascii_digit());
            match serde_json::from_str::<Value>(json) {
                Ok(Value::Array(mut items)) if items.first().is_some_and(Value::is_string) => {
                    let name = items.remove(0).as_str().unwrap_or_default().to_string();
                    Packet::Event(name, items)
                }
                _ => Packet::Other,
            }
        }
        _ => Packet::Other,
    }
}

/// Maps a server event to a [`SpaceEvent`]; anything malformed or unknown is dropped
/// (and logged), since every byte from the network is untrusted.
pub fn to_space_event(name: &str, args: &[Value]) -> Option<SpaceEvent> {
    let peer = || match args.first() {
        Some(Value::String(id)) if is_valid_id(id) => Some(id.clone()),
        other => {
            tracing::warn!(
                "space: ignored {name} with a bad peer id: {:.80}",
                format!("{other:?}")
            );
            None
        }
    };
    match name {
        USER_CONNECTED => peer().map(SpaceEvent::UserConnected),
        USER_DISCONNECTED => peer().map(SpaceEvent::UserDisconnected),
        SPACE_MEMBERS => match args.first() {
            Some(Value::Array(ids)) => Some(SpaceEvent::Members(
                ids.iter()
                    .filter_map(Value::as_str)
                    .filter(|id| is_valid_id(id))
                    .map(str::to_string)
                    .collect(),
            )),
            _ => None,
        },
        SPACE_ERROR => args
            .first()
            .and_then(Value::as_str)
            .map(|m| SpaceEvent::Refused(crate::text::sanitize(m, 200))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_handshake_gives_the_silence_allowed() {
        assert_eq!(
            parse_handshake(r#"0{"sid":"x","pingInterval":300,"pingTimeout":200}"#),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_handshake(r#"0{"sid":"x"}"#),
            Some(Duration::from_secs(45))
        );
        for bad in ["", "0", "0[]", "40", "0{", r#"1{"sid":"x"}"#] {
            assert_eq!(parse_handshake(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn packets_parse_like_socket_io_sends_them() {
        assert_eq!(parse_packet("2"), Packet::Ping);
        assert_eq!(parse_packet("40{\"sid\":\"x\"}"), Packet::Connected);
        assert_eq!(
            parse_packet("42[\"user-connected\",\"abc\"]"),
            Packet::Event("user-connected".into(), vec![json!("abc")])
        );
        assert_eq!(
            parse_packet("4217[\"space-members\",[\"a\"]]"),
            Packet::Event("space-members".into(), vec![json!(["a"])])
        );
        assert_eq!(
            parse_packet("44{\"message\":\"no\"}"),
            Packet::ConnectError("{\"message\":\"no\"}".into())
        );
        for junk in [
            "",
            "42",
            "42{}",
            "42[1,2]",
            "42/admin,[\"x\"]",
            "9",
            "4\u{1b}",
        ] {
            assert!(
                matches!(parse_packet(junk), Packet::Other | Packet::Closed),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn events_are_validated() {
        assert_eq!(
            to_space_event("user-connected", &[json!("abc")]),
            Some(SpaceEvent::UserConnected("abc".into()))
        );
        assert_eq!(
            to_space_event("user-connected", &[json!("\u{1b}[2J")]),
            None
        );
        assert_eq!(to_space_event("user-connected", &[json!(5)]), None);
        assert_eq!(to_space_event("user-disconnected", &[]), None);
        assert_eq!(
            to_space_event("space-members", &[json!(["a", 5, "b c", "\u{7}"])]),
            Some(SpaceEvent::Members(vec!["a".into(), "b c".into()]))
        );
        assert_eq!(
            to_space_event("space-error", &[json!("bad\u{1b}[31m id")]),
            Some(SpaceEvent::Refused("bad�[31m id".into()))
        );
        assert_eq!(to_space_event("something-else", &[json!("x")]), None);
    }

    #[test]
    fn join_matches_the_workshop_page() {
        assert_eq!(join_packet(None, "p1"), r#"42["join-space","p1"]"#);
        assert_eq!(
            join_packet(Some("CSC342"), "p1"),
            r#"42["join-space","CSC342","p1"]"#
        );
    }
}
