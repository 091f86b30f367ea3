//! The space protocol of the workshop backend, which `packspaces serve` speaks too: the
//! Socket.IO event names and the rule for space names. Shared by the client ([`super`]),
//! the server (`crate::server::spaces`) and the demo; no I/O.

/// Client to server: `join-space(peerId)` (the workshop's one space) or
/// `join-space(space, peerId)`, either followed by `{"name": NAME}` (`packspaces serve`
/// shows the name to the others; the workshop backend ignores the extra argument).
pub const JOIN_SPACE: &str = "join-space";
/// Server to the others in the space: `user-connected(peerId)`; `packspaces serve` adds
/// the newcomer's name (or null) as a second argument.
pub const USER_CONNECTED: &str = "user-connected";
/// Server to the others in the space: `user-disconnected(peerId)`.
pub const USER_DISCONNECTED: &str = "user-disconnected";
/// Server to a newcomer (`packspaces serve` only): `space-members([peerId, …], {peerId:
/// name, …})`, the second argument naming the members that gave a name.
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
/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 500;
/// Longest name a member may give, in characters.
pub const MAX_NAME: usize = 40;

/// Space names: 1 to 64 letters, digits, `-` and `_` (they appear in URL paths).
pub fn is_valid_space(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SPACE_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A member's name as the server keeps and relays it: trimmed, without control
/// characters (they would reach terminals) or bidi overrides (they reorder what a page
/// shows), at most [`MAX_NAME`]
/// characters, bidi overrides dropped too; `None` if nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let kept: String = name
        .chars()
        .filter(|c| !crate::text::is_unsafe(*c))
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_NAME)
        .collect();
    let kept = kept.trim_end().to_string();
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_cleaned_and_cut() {
        assert_eq!(clean_name("  Ada  ").as_deref(), Some("Ada"));
        assert_eq!(clean_name("A\u{1b}[2Jda\n").as_deref(), Some("A[2Jda"));
        assert_eq!(clean_name(" \u{7} \t"), None);
        assert_eq!(
            clean_name(&"é".repeat(50)).map(|n| n.chars().count()),
            Some(MAX_NAME)
        );
    }
}
