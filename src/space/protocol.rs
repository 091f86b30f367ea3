//! The space protocol of the workshop backend, which `packspaces serve` speaks too: the
//! Socket.IO event names and the rule for space names. Shared by the client ([`super`]),
//! the server (`crate::server::spaces`) and the demo; no I/O.

/// Client to server: `join-space(peerId)` (the workshop's one space) or
/// `join-space(space, peerId)`.
pub const JOIN_SPACE: &str = "join-space";
/// Server to the others in the space: `user-connected(peerId)`.
pub const USER_CONNECTED: &str = "user-connected";
/// Server to the others in the space: `user-disconnected(peerId)`.
pub const USER_DISCONNECTED: &str = "user-disconnected";
/// Server to a newcomer (`packspaces serve` only): `space-members([peerId, …])`.
pub const SPACE_MEMBERS: &str = "space-members";
/// Server to a client whose `join-space` (or `chat-message`) it refused: `space-error(message)`.
pub const SPACE_ERROR: &str = "space-error";
/// Both ways (`packspaces serve` only): a member sends `chat-message({text})`; every member
/// of its space gets `chat-message({from, name, text, time})`.
pub const CHAT_MESSAGE: &str = "chat-message";

/// The workshop's one space, joined with the single-argument `join-space`.
pub const DEFAULT_SPACE: &str = "";
/// Longest space name.
pub const MAX_SPACE_LEN: usize = 64;

/// Space names: 1 to 64 letters, digits, `-` and `_` (they appear in URL paths).
pub fn is_valid_space(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SPACE_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
