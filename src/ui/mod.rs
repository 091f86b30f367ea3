//! The conferencing UI: application state, what keys mean, and a pure `view::render` of
//! the state. Nothing here does I/O; the `join` loop feeds events in and acts on effects.

pub mod layout;
pub mod view;

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::model::{Participant, Room};
use crate::render::ColorMode;
use crate::space::ChatLine;
use crate::space::protocol::MAX_CHAT_CHARS;
use crate::text::sanitize;

/// How long a notice stays in the bottom bar.
pub const NOTICE_FOR: Duration = Duration::from_secs(8);

/// Everything the screen shows: the room, and what the screen adds to it.
#[derive(Debug, Clone)]
pub struct State {
    pub room: Room,
    /// Index into the room's participants.
    pub selected: usize,
    /// Show only the selected participant, large.
    pub focused: bool,
    /// Which page of tiles the grid shows (our own tile first, then everyone in join
    /// order), when they do not all fit.
    pub page: usize,
    /// Tiles per page on the current screen ([`view::tiles_per_page`]), for the page keys.
    pub per_page: usize,
    /// The terminal's size (columns, rows), set by whoever shows the state on one
    /// ([`State::set_screen`]); `None` for a session nobody watches (a bot).
    pub screen: Option<(u16, u16)>,
    /// Focus whoever speaks, automatically (`a`).
    pub follow_speaker: bool,
    pub show_help: bool,
    pub color: ColorMode,
    /// A one-line message for the bottom bar (sanitized).
    pub notice: Option<String>,
    /// When `notice` was set.
    pub notice_since: Option<Instant>,
    /// The address browsers can open to join this space (the demo's), sanitized.
    pub invite: Option<String>,
    /// What the screen output costs: kbit/s, video fps, the link's rate (ours, plain text).
    pub output: Option<String>,
    /// The chat pane is open: keys type into it.
    pub chat_open: bool,
    /// What we are typing (at most [`MAX_CHAT_CHARS`] characters).
    pub chat_input: String,
    /// Chat lines scrolled back from the newest (PgUp/PgDn while the pane is open).
    pub chat_scroll: usize,
}

impl State {
    pub fn new(space_label: &str, color: ColorMode) -> Self {
        Self {
            room: Room::new(space_label),
            selected: 0,
            focused: false,
            page: 0,
            per_page: usize::MAX,
            screen: None,
            follow_speaker: false,
            show_help: false,
            color,
            notice: None,
            notice_since: None,
            invite: None,
            output: None,
            chat_open: false,
            chat_input: String::new(),
            chat_scroll: 0,
        }
    }

    /// What a key means now: with the chat pane open, most keys type.
    pub fn action_for(&self, key: KeyEvent) -> Option<Action> {
        if self.chat_open {
            chat_action_for_key(key)
        } else {
            action_for_key(key)
        }
    }

    /// A chat line the server relayed: kept, counted as unread while the pane is closed,
    /// and shown in the bottom bar for a moment.
    pub fn take_chat(&mut self, line: &ChatLine) {
        let ours = self.room.our_id.as_deref() == Some(line.from.as_str());
        let known = self
            .room
            .participant(&line.from)
            .map(|p| p.label().to_string());
        let said = self.room.chat.push(line, ours, known.as_deref()).clone();
        if self.chat_scroll > 0 {
            // Reading back: the view stays on the same lines.
            self.chat_scroll = (self.chat_scroll + 1).min(self.room.chat.lines.len() - 1);
        }
        if !ours && !self.chat_open {
            self.room.chat.unread += 1;
            self.notify(&format!("{}: {} (c to chat)", said.who, said.text));
        }
    }

    /// Takes `peer_id` out of the room, keeping the selection on someone still there.
    pub fn remove(&mut self, peer_id: &str) {
        self.room.remove(peer_id);
        let count = self.room.participants.len();
        if self.selected >= count {
            self.selected = count.saturating_sub(1);
        }
        if count == 0 {
            self.focused = false;
        }
        self.page = self.page.min(self.pages() - 1);
    }

    /// The state is shown on a terminal of `cols x rows`.
    pub fn set_screen(&mut self, cols: u16, rows: u16) {
        self.screen = Some((cols, rows));
        self.per_page = view::tiles_per_page(cols, rows);
        self.page = self.page.min(self.pages() - 1);
    }

    /// How many pages the grid has: our own tile and everyone's.
    pub fn pages(&self) -> usize {
        (self.room.participants.len() + 1).div_ceil(self.per_page.max(1))
    }

    /// Shows the page with the selected participant.
    fn page_to_selected(&mut self) {
        // Our own tile is the first on page 0.
        self.page = (self.selected + 1) / self.per_page.max(1);
    }

    /// With "follow the speaker" on: focuses someone who speaks, unless the one focused
    /// still does. Whoever spoke last stays when everyone is silent. True if it changed
    /// anything.
    pub fn follow(&mut self) -> bool {
        if !self.follow_speaker || self.selected().is_some_and(|p| p.speaking && self.focused) {
            return false;
        }
        let Some(speaker) = self.room.participants.iter().position(|p| p.speaking) else {
            return false;
        };
        self.selected = speaker;
        self.focused = true;
        self.page_to_selected();
        true
    }

    pub fn selected(&self) -> Option<&Participant> {
        self.room.participants.get(self.selected)
    }

    pub fn notify(&mut self, text: &str) {
        self.notice = Some(sanitize(text, 200));
        self.notice_since = Some(Instant::now());
    }

    /// Takes down a notice shown for [`NOTICE_FOR`] by `now`, so that the key hints come
    /// back (lasting trouble, such as no sound device, stays in the status bar). True when
    /// it did.
    pub fn expire_notice(&mut self, now: Instant) -> bool {
        match self.notice_since {
            Some(since) if now.saturating_duration_since(since) >= NOTICE_FOR => {
                self.notice = None;
                self.notice_since = None;
                true
            }
            _ => false,
        }
    }

    /// Shows where browsers can join.
    pub fn set_invite(&mut self, url: &str) {
        self.invite = Some(sanitize(url, 200));
    }

    /// Records a sound problem: the whole sentence as the notice, and a short form kept in
    /// the status bar (problems add up: the speaker and the microphone can both fail).
    pub fn sound_trouble(&mut self, text: &str) {
        self.notify(text);
        self.room.add_sound_trouble(text);
    }

    /// Applies a user action; returns what the caller must do outside the state.
    pub fn apply(&mut self, action: Action) -> Option<Effect> {
        let count = self.room.participants.len();
        let controls = &mut self.room.controls;
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::Next if count > 0 => {
                self.selected = (self.selected + 1) % count;
                self.page_to_selected();
            }
            Action::Previous if count > 0 => {
                self.selected = (self.selected + count - 1) % count;
                self.page_to_selected();
            }
            Action::NextPage | Action::PreviousPage => {
                let last = self.pages() - 1;
                self.page = if action == Action::NextPage {
                    (self.page + 1).min(last)
                } else {
                    self.page.saturating_sub(1)
                };
                self.focused = false;
                // The first participant on the page is selected (page 0 starts with us).
                let first = (self.page * self.per_page.max(1)).saturating_sub(1);
                self.selected = first.min(count.saturating_sub(1));
            }
            Action::ToggleFollow => {
                self.follow_speaker = !self.follow_speaker;
                self.notify(if self.follow_speaker {
                    "following the speaker: whoever speaks is zoomed (a stops)"
                } else {
                    "no longer following the speaker"
                });
                self.follow();
            }
            Action::Focus if count > 0 => self.focused = true,
            Action::Unfocus => {
                self.focused = false;
                self.show_help = false;
            }
            Action::ToggleHelp => self.show_help = !self.show_help,
            Action::ToggleMic | Action::ToggleSound if !controls.sound_available => {
                self.notify(NO_SOUND);
            }
            Action::ToggleMic => {
                controls.mic_on = !controls.mic_on;
                return Some(Effect::MediaChanged);
            }
            Action::ToggleSound => {
                controls.sound_on = !controls.sound_on;
                return Some(Effect::MediaChanged);
            }
            Action::ToggleVideo if !controls.video_available => {
                self.notify("you send no video (--no-video)");
            }
            Action::ToggleVideo => {
                controls.video_on = !controls.video_on;
                return Some(Effect::MediaChanged);
            }
            Action::MuteSelected | Action::Louder | Action::Quieter
                if !controls.sound_available =>
            {
                self.notify(NO_SOUND);
            }
            Action::MuteSelected | Action::Louder | Action::Quieter => {
                let selected = self.selected;
                let Some(p) = self.room.participants.get_mut(selected) else {
                    self.notify("nobody selected: the space is empty");
                    return None;
                };
                match action {
                    Action::MuteSelected => p.hearing.muted = !p.hearing.muted,
                    Action::Louder => p.hearing.louder(),
                    _ => p.hearing.quieter(),
                }
                return Some(Effect::MediaChanged);
            }
            Action::OpenChat => {
                self.chat_open = true;
                self.show_help = false;
                // The bottom bar's last chat line is in the pane now.
                self.notice = None;
                self.notice_since = None;
                self.room.chat.unread = 0;
                self.chat_scroll = 0;
            }
            Action::CloseChat => self.chat_open = false,
            Action::ChatType(c) if self.chat_input.chars().count() < MAX_CHAT_CHARS => {
                self.chat_input.push(c);
            }
            Action::ChatBackspace => {
                self.chat_input.pop();
            }
            Action::ChatClearLine => self.chat_input.clear(),
            Action::ChatScroll(back) => {
                let most = self.room.chat.lines.len().saturating_sub(1);
                self.chat_scroll = if back {
                    (self.chat_scroll + CHAT_SCROLL_STEP).min(most)
                } else {
                    self.chat_scroll.saturating_sub(CHAT_SCROLL_STEP)
                };
            }
            Action::ChatSend => {
                let text = self.chat_input.trim();
                if text.is_empty() {
                    return None;
                }
                if !self.room.chat.available {
                    self.notify(CHAT_UNAVAILABLE);
                    return None;
                }
                let text = text.to_string();
                self.chat_input.clear();
                self.chat_scroll = 0;
                return Some(Effect::Say(text));
            }
            Action::SaveFrame => {
                return match self.selected() {
                    Some(p) if p.frame.is_some() => Some(Effect::SaveFrame(p.peer_id.clone())),
                    Some(p) => {
                        let text = format!("{} has no video to save yet", p.label());
                        self.notify(&text);
                        None
                    }
                    None => {
                        self.notify("nobody to save: the space is empty");
                        None
                    }
                };
            }
            _ => {}
        }
        None
    }
}

/// What the user meant by a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Next,
    Previous,
    /// The next or previous page of tiles.
    NextPage,
    PreviousPage,
    /// Follow the speaker on or off.
    ToggleFollow,
    Focus,
    Unfocus,
    ToggleHelp,
    SaveFrame,
    ToggleMic,
    ToggleVideo,
    ToggleSound,
    /// Mute or unmute the selected participant (for us only).
    MuteSelected,
    Louder,
    Quieter,
    /// Open the chat pane and type (`c`).
    OpenChat,
    /// Leave the chat pane (Esc).
    CloseChat,
    ChatType(char),
    ChatBackspace,
    /// Forget what was typed (Ctrl-U).
    ChatClearLine,
    /// Scroll the chat back (true) or forward by a few lines.
    ChatScroll(bool),
    /// Send what was typed (Enter).
    ChatSend,
}

/// Work for the caller, outside the pure state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    /// Save this participant's current frame as a PNG.
    SaveFrame(String),
    /// The room's [`crate::model::Controls`] or a participant's [`crate::model::Hearing`]
    /// changed: apply them to the media.
    MediaChanged,
    /// Send this chat line to the space.
    Say(String),
}

/// What the chat pane says against a server that relays no chat.
pub const CHAT_UNAVAILABLE: &str =
    "chat unavailable: this server relays no chat (the workshop backend); packspaces serve does";

/// Lines PgUp / PgDn scroll the chat by.
const CHAT_SCROLL_STEP: usize = 5;

/// The notice for sound keys when there is no sound.
const NO_SOUND: &str = "no sound: this build has no audio feature, or no sound device";

/// The action a key stands for.
pub fn action_for_key(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    Some(match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Tab | KeyCode::Right | KeyCode::Down | KeyCode::Char('j') => Action::Next,
        KeyCode::BackTab | KeyCode::Left | KeyCode::Up | KeyCode::Char('k') => Action::Previous,
        KeyCode::Enter | KeyCode::Char('f') => Action::Focus,
        KeyCode::PageDown => Action::NextPage,
        KeyCode::PageUp => Action::PreviousPage,
        KeyCode::Char('a') => Action::ToggleFollow,
        KeyCode::Esc => Action::Unfocus,
        KeyCode::Char('?') | KeyCode::F(1) => Action::ToggleHelp,
        KeyCode::Char('s') => Action::SaveFrame,
        KeyCode::Char('m') => Action::ToggleMic,
        KeyCode::Char('v') => Action::ToggleVideo,
        KeyCode::Char('d') => Action::ToggleSound,
        KeyCode::Char('x') => Action::MuteSelected,
        KeyCode::Char('+') | KeyCode::Char('=') => Action::Louder,
        KeyCode::Char('-') => Action::Quieter,
        KeyCode::Char('c') => Action::OpenChat,
        _ => return None,
    })
}

/// The action a key stands for while the chat pane is open.
pub fn chat_action_for_key(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if control => Action::Quit,
        KeyCode::Char('u') if control => Action::ChatClearLine,
        KeyCode::Char(_) if control => return None,
        // Control characters never enter a line (a pasted escape sequence arrives as keys).
        KeyCode::Char(c) if crate::text::is_unsafe(c) => return None,
        KeyCode::Char(c) => Action::ChatType(c),
        KeyCode::Backspace => Action::ChatBackspace,
        KeyCode::Enter => Action::ChatSend,
        KeyCode::Esc => Action::CloseChat,
        KeyCode::PageUp => Action::ChatScroll(true),
        KeyCode::PageDown => Action::ChatScroll(false),
        _ => return None,
    })
}

/// The keys, for the help overlay and the bottom bar.
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / arrows", "select a participant"),
    ("Enter / f", "focus (zoom) the selected one"),
    ("Esc", "back to the grid"),
    ("PgUp / PgDn", "the previous / next page of tiles"),
    ("a", "follow the speaker on or off"),
    ("s", "save the selected video frame as PNG"),
    ("m / v / d", "microphone / video / sound on or off"),
    ("x, + / -", "mute the selected one, louder / quieter"),
    ("c", "chat: type, Enter sends, PgUp/PgDn scroll, Esc closes"),
    ("?", "this help"),
    ("q / Ctrl-C", "leave the space"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Hearing;
    use crate::render::I420Frame;
    use std::sync::Arc;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_map_to_actions() {
        assert_eq!(action_for_key(key(KeyCode::Char('q'))), Some(Action::Quit));
        assert_eq!(
            action_for_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(action_for_key(key(KeyCode::Tab)), Some(Action::Next));
        assert_eq!(action_for_key(key(KeyCode::Enter)), Some(Action::Focus));
        assert_eq!(
            action_for_key(key(KeyCode::PageDown)),
            Some(Action::NextPage)
        );
        assert_eq!(
            action_for_key(key(KeyCode::PageUp)),
            Some(Action::PreviousPage)
        );
        assert_eq!(
            action_for_key(key(KeyCode::Char('a'))),
            Some(Action::ToggleFollow)
        );
        assert_eq!(action_for_key(key(KeyCode::Char('z'))), None);
    }

    #[test]
    fn media_keys_switch_and_say_when_there_is_no_sound() {
        let mut s = State::new("x", ColorMode::TrueColor);
        s.room.controls.sound_available = false;
        assert_eq!(s.apply(Action::ToggleMic), None);
        assert!(s.notice.as_deref().unwrap_or("").contains("no sound"));
        assert!(s.room.controls.mic_on);
        assert_eq!(s.apply(Action::ToggleVideo), Some(Effect::MediaChanged));
        assert!(!s.room.controls.video_on);
        s.room.controls.video_available = false;
        assert_eq!(s.apply(Action::ToggleVideo), None);
        assert!(s.notice.as_deref().unwrap_or("").contains("--no-video"));

        s.room.controls.sound_available = true;
        assert_eq!(s.apply(Action::ToggleMic), Some(Effect::MediaChanged));
        assert!(!s.room.controls.mic_on);
        assert_eq!(s.apply(Action::ToggleSound), Some(Effect::MediaChanged));
        assert!(!s.room.controls.sound_on);
        assert_eq!(s.apply(Action::MuteSelected), None, "nobody to mute");
        s.room.upsert("a");
        s.room.upsert("b");
        s.apply(Action::Next);
        assert_eq!(s.apply(Action::MuteSelected), Some(Effect::MediaChanged));
        s.apply(Action::Louder);
        assert!(s.room.participants[1].hearing.muted);
        assert_eq!(s.room.participants[1].hearing.volume, 125);
        assert_eq!(s.room.participants[0].hearing, Hearing::default());
        assert_eq!(
            action_for_key(key(KeyCode::Char('-'))),
            Some(Action::Quieter)
        );
    }

    #[test]
    fn notices_give_way_to_the_key_hints_after_a_while() {
        let mut s = State::new("x", ColorMode::TrueColor);
        s.notify("saved frame.png");
        let since = s.notice_since.unwrap();
        assert!(!s.expire_notice(since + Duration::from_secs(1)));
        assert_eq!(s.notice.as_deref(), Some("saved frame.png"));
        assert!(s.expire_notice(since + NOTICE_FOR));
        assert_eq!(s.notice, None);
        assert!(
            !s.expire_notice(since + NOTICE_FOR * 2),
            "nothing left to expire"
        );
    }

    #[test]
    fn selection_wraps_and_survives_removal() {
        let mut s = State::new("x", ColorMode::TrueColor);
        assert_eq!(s.apply(Action::Next), None);
        for id in ["a", "b", "c"] {
            s.room.upsert(id);
        }
        s.apply(Action::Previous);
        assert_eq!(s.selected().unwrap().peer_id, "c");
        s.apply(Action::Focus);
        s.remove("c");
        assert_eq!(s.selected().unwrap().peer_id, "b");
        s.remove("a");
        s.remove("b");
        assert!(!s.focused && s.selected().is_none());
    }

    #[test]
    fn saving_needs_a_frame_and_says_so() {
        let mut s = State::new("x", ColorMode::TrueColor);
        assert_eq!(s.apply(Action::SaveFrame), None);
        assert!(s.notice.as_deref().unwrap().contains("empty"));
        s.room.upsert("a");
        assert_eq!(s.apply(Action::SaveFrame), None);
        s.room.participant_mut("a").unwrap().frame = Some(Arc::new(
            I420Frame::solid(4, 4, crate::render::Rgb::BLACK).unwrap(),
        ));
        assert_eq!(
            s.apply(Action::SaveFrame),
            Some(Effect::SaveFrame("a".into()))
        );
    }

    #[test]
    fn sound_problems_add_up_in_short_and_show_in_full() {
        let mut s = State::new("x", ColorMode::TrueColor);
        s.sound_trouble("no sound output: no output device found");
        s.sound_trouble("no microphone: no input device found");
        s.sound_trouble("no microphone: no input device found");
        assert_eq!(
            s.room.sound.as_deref(),
            Some("no sound output · no microphone")
        );
        assert_eq!(
            s.notice.as_deref(),
            Some("no microphone: no input device found")
        );
    }

    #[test]
    fn names_and_ids_are_made_safe() {
        let mut p = Participant::new("id\u{1b}[2J");
        assert_eq!(p.peer_id, "id\u{fffd}[2J");
        p.set_name("  Ada\u{7}  ");
        assert_eq!(p.label(), "Ada\u{fffd}");
        p.set_name("   ");
        assert_eq!(p.label(), "id\u{fffd}[2J");
    }
}
