//! The Engine.IO 4 / Socket.IO 5 text packets a space client reads and writes over a
//! websocket, for the default namespace only: pure, no I/O (the connection is in
//! [`super`]). Every packet comes from the network and is checked here.

use std::time::Duration;

use serde_json::Value;

use super::protocol::{
    CHAT_MESSAGE, JOIN_SPACE, MAX_CHAT_CHARS, SPACE_ERROR, SPACE_MEMBERS, USER_CONNECTED,
    USER_DISCONNECTED, clean_name,
};
use super::{ChatLine, SpaceEvent};
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

/// The `join-space` event as the workshop page sends it, with `{"name"}` after it when we
/// have a name (the workshop backend ignores it).
pub fn join_packet(space: Option<&str>, peer_id: &str, name: Option<&str>) -> String {
    let mut args = vec![Value::from(JOIN_SPACE)];
    args.extend(space.map(Value::from));
    args.push(Value::from(peer_id));
    if let Some(name) = name {
        args.push(serde_json::json!({ "name": name }));
    }
    format!("42{}", Value::Array(args))
}

/// A `chat-message` event carrying `text`.
pub fn chat_packet(text: &str) -> String {
    format!("42{}", serde_json::json!([CHAT_MESSAGE, { "text": text }]))
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

/// Maps a server event to [`SpaceEvent`]s (a join and the name it came with are two, the
/// name first, so that whoever shows the join knows it); anything malformed or unknown is
/// dropped (and logged), since every byte from the network is untrusted.
pub fn to_space_events(name: &str, args: &[Value]) -> Vec<SpaceEvent> {
    let Some(event) = to_space_event(name, args) else {
        return Vec::new();
    };
    let names = match (name, &event) {
        (USER_CONNECTED, SpaceEvent::UserConnected(peer)) => args
            .get(1)
            .and_then(Value::as_str)
            .and_then(clean_name)
            .map(|n| vec![(peer.clone(), n)])
            .unwrap_or_default(),
        (SPACE_MEMBERS, SpaceEvent::Members(peers)) => match args.get(1) {
            Some(Value::Object(names)) => peers
                .iter()
                .filter_map(|p| Some((p.clone(), clean_name(names.get(p)?.as_str()?)?)))
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    if names.is_empty() {
        vec![event]
    } else {
        vec![SpaceEvent::Names(names), event]
    }
}

/// The first (or only) event a server event stands for.
fn to_space_event(name: &str, args: &[Value]) -> Option<SpaceEvent> {
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
        CHAT_MESSAGE => {
            let line = args.first().and_then(chat_line);
            if line.is_none() {
                tracing::warn!("space: ignored a malformed chat-message");
            }
            line.map(SpaceEvent::Chat)
        }
        _ => None,
    }
}

/// A relayed chat message: `{from, name, text, time}`. The text is kept as sent (it is
/// shown only through [`crate::text::sanitize`] or written as JSON), cut to what a server
/// may relay.
fn chat_line(message: &Value) -> Option<ChatLine> {
    let from = message.get("from")?.as_str().filter(|id| is_valid_id(id))?;
    let text = message.get("text")?.as_str()?;
    Some(ChatLine {
        from: from.to_string(),
        name: message
            .get("name")
            .and_then(Value::as_str)
            .and_then(clean_name),
        text: text.chars().take(MAX_CHAT_CHARS).collect(),
        time: message
            .get("time")
            .and_then(Value::as_str)
            .filter(|t| t.len() <= 40)
            .map(|t| crate::text::sanitize(t, 40)),
    })
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
        assert_eq!(join_packet(None, "p1", None), r#"42["join-space","p1"]"#);
        assert_eq!(
            join_packet(Some("CSC342"), "p1", None),
            r#"42["join-space","CSC342","p1"]"#
        );
        assert_eq!(
            join_packet(Some("CSC342"), "p1", Some("Ada \"L\"")),
            r#"42["join-space","CSC342","p1",{"name":"Ada \"L\""}]"#
        );
    }

    #[test]
    fn names_come_with_joins_and_member_lists() {
        assert_eq!(
            to_space_events("user-connected", &[json!("abc"), json!(" Ada\u{1b}[2J ")]),
            vec![
                SpaceEvent::Names(vec![("abc".into(), "Ada[2J".into())]),
                SpaceEvent::UserConnected("abc".into()),
            ]
        );
        assert_eq!(
            to_space_events("user-connected", &[json!("abc"), Value::Null]),
            vec![SpaceEvent::UserConnected("abc".into())]
        );
        assert_eq!(
            to_space_events(
                "space-members",
                &[
                    json!(["a", "b", "c"]),
                    json!({"a": "Ada", "b": 5, "zz": "Eve"})
                ]
            ),
            vec![
                SpaceEvent::Names(vec![("a".into(), "Ada".into())]),
                SpaceEvent::Members(vec!["a".into(), "b".into(), "c".into()]),
            ]
        );
        assert_eq!(
            to_space_events("user-connected", &[json!("\u{1b}"), json!("Ada")]),
            vec![]
        );
    }

    #[test]
    fn chat_lines_are_checked_and_kept_as_sent() {
        let event = |v: Value| to_space_events("chat-message", &[v]);
        assert_eq!(
            event(
                json!({"from": "abc", "name": "Ada", "text": "<b>hi</b>\u{1b}[2J", "time": "2026-12-02T10:00:00Z"})
            ),
            vec![SpaceEvent::Chat(ChatLine {
                from: "abc".into(),
                name: Some("Ada".into()),
                text: "<b>hi</b>\u{1b}[2J".into(),
                time: Some("2026-12-02T10:00:00Z".into()),
            })]
        );
        assert_eq!(
            event(json!({"from": "abc", "name": null, "text": "x".repeat(900)})),
            vec![SpaceEvent::Chat(ChatLine {
                from: "abc".into(),
                name: None,
                text: "x".repeat(MAX_CHAT_CHARS),
                time: None,
            })]
        );
        for bad in [
            json!({"from": "\u{1b}[2J", "text": "x"}),
            json!({"from": "abc"}),
            json!({"from": "abc", "text": 5}),
            json!("text"),
        ] {
            assert_eq!(event(bad.clone()), vec![], "{bad}");
        }
        assert_eq!(chat_packet("a\"b"), r#"42["chat-message",{"text":"a\"b"}]"#);
    }
}
