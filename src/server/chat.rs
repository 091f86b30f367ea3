//! Chat in a space (`serve` spaces): a member emits `chat-message` with `{"text": …}`; the
//! server relays `chat-message` with `{"from", "name", "text", "time"}` to every member of
//! its space, the sender included, at every instance of a cluster. Pure rules here (what a
//! message may be, when a socket floods); `spaces` does the emitting.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Longest message, in characters.
pub const MAX_CHARS: usize = crate::space::protocol::MAX_CHAT_CHARS;
/// Messages one socket may send within [`WINDOW`]; one more is a flood and the socket is
/// cut off.
pub const PER_WINDOW: usize = 20;
pub const WINDOW: Duration = Duration::from_secs(10);

/// What a member sends.
#[derive(Debug, Deserialize)]
pub struct Sent {
    pub text: String,
}

/// What every member of the space receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relayed {
    /// The sender's peer id.
    pub from: String,
    /// The sender's name, when the server knows it.
    pub name: Option<String>,
    /// As sent: clients show it as text (never markup, never control sequences).
    pub text: String,
    /// When the server relayed it, RFC 3339 (UTC).
    pub time: String,
}

/// Why a message was refused (sent back as `space-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("chat-message takes {{\"text\": \"…\"}}")]
    BadMessage,
    #[error("join a space before you chat")]
    NotInASpace,
    #[error("empty chat message")]
    Empty,
    #[error("chat messages are at most {MAX_CHARS} characters")]
    TooLong,
    #[error("too many chat messages; slow down")]
    TooMany,
}

/// Checks a message's text.
pub fn check(text: &str) -> Result<(), ChatError> {
    if text.trim().is_empty() {
        return Err(ChatError::Empty);
    }
    if text.chars().count() > MAX_CHARS {
        return Err(ChatError::TooLong);
    }
    Ok(())
}

/// The current time as the relayed `time`.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One socket's recent messages, for the flood limit.
#[derive(Debug, Default)]
pub struct FloodGate {
    sent: VecDeque<Instant>,
}

impl FloodGate {
    /// Counts a message at `now`; false when it is one too many within [`WINDOW`].
    pub fn allow(&mut self, now: Instant) -> bool {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= PER_WINDOW {
            return false;
        }
        self.sent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_checked_for_emptiness_and_length_in_characters() {
        assert_eq!(check("hello"), Ok(()));
        assert_eq!(check("  \n"), Err(ChatError::Empty));
        assert_eq!(check(&"é".repeat(MAX_CHARS)), Ok(()));
        assert_eq!(check(&"é".repeat(MAX_CHARS + 1)), Err(ChatError::TooLong));
    }

    #[test]
    fn a_flood_is_refused_and_the_window_slides() {
        let mut gate = FloodGate::default();
        let t = Instant::now();
        for _ in 0..PER_WINDOW {
            assert!(gate.allow(t));
        }
        assert!(!gate.allow(t));
        assert!(gate.allow(t + WINDOW));
    }

    #[test]
    fn the_time_is_rfc3339_utc() {
        let time = now_rfc3339();
        assert!(time.ends_with('Z') && time.contains('T'), "{time}");
    }
}
