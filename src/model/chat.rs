//! The space's chat as the screen shows it: the lines kept (made safe for the terminal),
//! whether the server relays chat at all, and how many lines came in unseen.

use std::collections::VecDeque;

use crate::space::ChatLine;
use crate::text::sanitize;

/// Lines kept for scrolling back; older ones are dropped.
pub const KEEP: usize = 500;

/// One chat line, ready for the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// `HH:MM` (UTC, as the server stamped it).
    pub clock: String,
    /// The sender's name, else their short peer id; "you" for ours.
    pub who: String,
    pub text: String,
    pub ours: bool,
}

/// The chat of a space.
#[derive(Debug, Clone, Default)]
pub struct Chat {
    pub lines: VecDeque<Said>,
    /// The server relays chat (`packspaces serve`, which also lists a newcomer's members);
    /// the workshop backend does not.
    pub available: bool,
    /// Lines from others since the pane was last open.
    pub unread: usize,
    /// Lines received in all (the oldest kept is number `received - lines.len()`).
    pub received: usize,
}

impl Chat {
    /// The lines after the first `seen` ever received (those still kept).
    pub fn since(&self, seen: usize) -> impl Iterator<Item = &Said> {
        let new = self.received.saturating_sub(seen).min(self.lines.len());
        self.lines.iter().skip(self.lines.len() - new)
    }

    /// Keeps a relayed line; `known_as` is the sender's label in the room, if they are in
    /// it (a line without a name shows that). Returns the line as kept.
    pub fn push(&mut self, line: &ChatLine, ours: bool, known_as: Option<&str>) -> &Said {
        let who = if ours {
            "you".to_string()
        } else {
            match (&line.name, known_as) {
                (Some(name), _) => sanitize(name, crate::model::MAX_LABEL),
                (None, Some(label)) => label.to_string(),
                (None, None) => sanitize(short(&line.from), crate::model::MAX_LABEL),
            }
        };
        if self.lines.len() == KEEP {
            self.lines.pop_front();
        }
        self.received += 1;
        self.lines.push_back(Said {
            clock: clock(line.time.as_deref()),
            who,
            // Lines are one screen line each: a newline or tab becomes a space, not U+FFFD.
            text: sanitize(&line.text.replace(['\n', '\r', '\t'], " "), usize::MAX),
            ours,
        });
        &self.lines[self.lines.len() - 1]
    }
}

/// `HH:MM` from an RFC 3339 stamp (`2026-12-02T10:04:05Z`), else the time now (UTC).
fn clock(time: Option<&str>) -> String {
    let from_stamp = time
        .and_then(|t| t.split_once('T'))
        .map(|(_, rest)| rest.get(..5).unwrap_or(""))
        .filter(|hm| {
            let b = hm.as_bytes();
            b.len() == 5
                && b[2] == b':'
                && b.iter()
                    .enumerate()
                    .all(|(i, c)| i == 2 || c.is_ascii_digit())
        });
    match from_stamp {
        Some(hm) => hm.to_string(),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                % 86_400;
            format!("{:02}:{:02}", secs / 3600, secs / 60 % 60)
        }
    }
}

/// The first 8 characters of an id.
fn short(id: &str) -> &str {
    id.char_indices()
        .nth(8)
        .map(|(i, _)| &id[..i])
        .unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(from: &str, name: Option<&str>, text: &str, time: Option<&str>) -> ChatLine {
        ChatLine {
            from: from.into(),
            name: name.map(str::to_string),
            text: text.into(),
            time: time.map(str::to_string),
        }
    }

    #[test]
    fn lines_are_made_safe_and_named() {
        let mut chat = Chat::default();
        let said = chat
            .push(
                &line(
                    "abcdefghijkl",
                    Some("Ada"),
                    "hi\n<b>\u{1b}[2J",
                    Some("2026-12-02T10:04:05Z"),
                ),
                false,
                None,
            )
            .clone();
        assert_eq!(said.clock, "10:04");
        assert_eq!(said.who, "Ada");
        assert_eq!(said.text, "hi <b>\u{fffd}[2J");
        let said = chat.push(&line("abcdefghijkl", None, "x", Some("junk")), false, None);
        assert_eq!(said.who, "abcdefgh");
        assert_eq!(said.clock.len(), 5, "the time now when the stamp is junk");
        let said = chat.push(&line("abcdefghijkl", None, "x", None), false, Some("Bob"));
        assert_eq!(said.who, "Bob");
        assert_eq!(
            chat.push(&line("me", Some("Me"), "x", None), true, None)
                .who,
            "you"
        );
    }

    #[test]
    fn old_lines_go() {
        let mut chat = Chat::default();
        for i in 0..KEEP + 3 {
            chat.push(&line("a", None, &i.to_string(), None), false, None);
        }
        assert_eq!(chat.lines.len(), KEEP);
        assert_eq!(chat.lines[0].text, "3");
        let since: Vec<&str> = chat.since(KEEP + 1).map(|s| s.text.as_str()).collect();
        assert_eq!(since, [(KEEP + 1).to_string(), (KEEP + 2).to_string()]);
        assert_eq!(chat.since(0).count(), KEEP);
    }
}
