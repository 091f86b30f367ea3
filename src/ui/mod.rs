//! The conferencing UI: application state, what keys mean, and a pure `view::render` of
//! the state. Nothing here does I/O; the `join` loop feeds events in and acts on effects.

pub mod controls;
pub mod layout;
pub mod view;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::render::{ColorMode, I420Frame};
use crate::text::sanitize;
pub use controls::{Controls, Hearing};

/// How long a notice stays in the bottom bar.
pub const NOTICE_FOR: Duration = Duration::from_secs(8);

/// Longest name or id shown anywhere.
pub const MAX_LABEL: usize = 40;

/// How a participant's call is doing, as their tile shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileState {
    Connecting,
    Live,
    /// Connected, but no video has arrived (or they send none).
    NoVideo,
    /// Signaling could not reach them (EXPIRE) or ICE failed.
    Unreachable,
}

impl TileState {
    pub fn label(self) -> &'static str {
        match self {
            TileState::Connecting => "connecting",
            TileState::Live => "live",
            TileState::NoVideo => "no video",
            TileState::Unreachable => "unreachable",
        }
    }
}

/// One other person in the space.
#[derive(Debug, Clone)]
pub struct Participant {
    pub peer_id: String,
    /// From the call's PeerJS metadata, sanitized.
    pub name: Option<String>,
    pub state: TileState,
    pub speaking: bool,
    /// The newest decoded frame.
    pub frame: Option<Arc<I420Frame>>,
    /// How loud we play them.
    pub hearing: Hearing,
}

impl Participant {
    pub fn new(peer_id: &str) -> Self {
        Self {
            peer_id: sanitize(peer_id, MAX_LABEL),
            name: None,
            state: TileState::Connecting,
            speaking: false,
            frame: None,
            hearing: Hearing::default(),
        }
    }

    /// The name if known, else the peer id (both already safe for the terminal).
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.peer_id)
    }

    pub fn set_name(&mut self, name: &str) {
        let clean = sanitize(name.trim(), MAX_LABEL);
        self.name = (!clean.is_empty()).then_some(clean);
    }
}

/// A connection's state for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Up,
    Down(String),
}

impl Link {
    pub fn label(&self) -> String {
        match self {
            Link::Connecting => "connecting…".into(),
            Link::Up => "connected".into(),
            Link::Down(why) => format!("reconnecting ({})", sanitize(why, 40)),
        }
    }
}

/// Everything the screen shows.
#[derive(Debug, Clone)]
pub struct State {
    /// The space, e.g. `127.0.0.1:3000 CSC342`.
    pub space_label: String,
    pub our_id: Option<String>,
    pub our_name: Option<String>,
    pub space_link: Link,
    pub peer_link: Link,
    pub participants: Vec<Participant>,
    pub self_view: Option<Arc<I420Frame>>,
    /// Index into `participants`.
    pub selected: usize,
    /// Show only the selected participant, large.
    pub focused: bool,
    pub show_help: bool,
    pub color: ColorMode,
    /// A one-line message for the bottom bar (sanitized).
    pub notice: Option<String>,
    /// When `notice` was set.
    pub notice_since: Option<Instant>,
    /// The address browsers can open to join this space (the demo's), sanitized.
    pub invite: Option<String>,
    /// Microphone, video and sound switches.
    pub controls: Controls,
    /// What is wrong with sound (no speaker, no microphone), for the status bar
    /// (sanitized); `None` while sound works or is not built in.
    pub sound: Option<String>,
    /// What the screen output costs: kbit/s, video fps, the link's rate (ours, plain text).
    pub output: Option<String>,
}

impl State {
    pub fn new(space_label: &str, color: ColorMode) -> Self {
        Self {
            space_label: sanitize(space_label, 80),
            our_id: None,
            our_name: None,
            space_link: Link::Connecting,
            peer_link: Link::Connecting,
            participants: Vec::new(),
            self_view: None,
            selected: 0,
            focused: false,
            show_help: false,
            color,
            notice: None,
            notice_since: None,
            invite: None,
            controls: Controls::default(),
            sound: None,
            output: None,
        }
    }

    pub fn participant_mut(&mut self, peer_id: &str) -> Option<&mut Participant> {
        self.participants.iter_mut().find(|p| p.peer_id == peer_id)
    }

    /// Adds a participant if new; returns it.
    pub fn upsert(&mut self, peer_id: &str) -> &mut Participant {
        let index = match self.participants.iter().position(|p| p.peer_id == peer_id) {
            Some(i) => i,
            None => {
                self.participants.push(Participant::new(peer_id));
                self.participants.len() - 1
            }
        };
        &mut self.participants[index]
    }

    pub fn remove(&mut self, peer_id: &str) {
        self.participants.retain(|p| p.peer_id != peer_id);
        if self.selected >= self.participants.len() {
            self.selected = self.participants.len().saturating_sub(1);
        }
        if self.participants.is_empty() {
            self.focused = false;
        }
    }

    pub fn selected(&self) -> Option<&Participant> {
        self.participants.get(self.selected)
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
        let short = sanitize(text.split(':').next().unwrap_or(text), 40);
        match &mut self.sound {
            Some(all) if all.contains(&short) => {}
            Some(all) => *all = format!("{all} · {short}"),
            None => self.sound = Some(short),
        }
    }

    /// Applies a user action; returns what the caller must do outside the state.
    pub fn apply(&mut self, action: Action) -> Option<Effect> {
        let count = self.participants.len();
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::Next if count > 0 => self.selected = (self.selected + 1) % count,
            Action::Previous if count > 0 => self.selected = (self.selected + count - 1) % count,
            Action::Focus if count > 0 => self.focused = true,
            Action::Unfocus => {
                self.focused = false;
                self.show_help = false;
            }
            Action::ToggleHelp => self.show_help = !self.show_help,
            Action::ToggleMic | Action::ToggleSound if !self.controls.sound_available => {
                self.notify(NO_SOUND);
            }
            Action::ToggleMic => {
                self.controls.mic_on = !self.controls.mic_on;
                return Some(Effect::MediaChanged);
            }
            Action::ToggleSound => {
                self.controls.sound_on = !self.controls.sound_on;
                return Some(Effect::MediaChanged);
            }
            Action::ToggleVideo if !self.controls.video_available => {
                self.notify("you send no video (--no-video)");
            }
            Action::ToggleVideo => {
                self.controls.video_on = !self.controls.video_on;
                return Some(Effect::MediaChanged);
            }
            Action::MuteSelected | Action::Louder | Action::Quieter
                if !self.controls.sound_available =>
            {
                self.notify(NO_SOUND);
            }
            Action::MuteSelected | Action::Louder | Action::Quieter => {
                let selected = self.selected;
                let Some(p) = self.participants.get_mut(selected) else {
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
}

/// Work for the caller, outside the pure state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    /// Save this participant's current frame as a PNG.
    SaveFrame(String),
    /// [`State::controls`] or a participant's [`Hearing`] changed: apply them to the media.
    MediaChanged,
}

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
        KeyCode::Esc => Action::Unfocus,
        KeyCode::Char('?') | KeyCode::F(1) => Action::ToggleHelp,
        KeyCode::Char('s') => Action::SaveFrame,
        KeyCode::Char('m') => Action::ToggleMic,
        KeyCode::Char('v') => Action::ToggleVideo,
        KeyCode::Char('d') => Action::ToggleSound,
        KeyCode::Char('x') => Action::MuteSelected,
        KeyCode::Char('+') | KeyCode::Char('=') => Action::Louder,
        KeyCode::Char('-') => Action::Quieter,
        _ => return None,
    })
}

/// The keys, for the help overlay and the bottom bar.
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / arrows", "select a participant"),
    ("Enter / f", "focus (zoom) the selected one"),
    ("Esc", "back to the grid"),
    ("s", "save the selected video frame as PNG"),
    ("m / v / d", "microphone / video / sound on or off"),
    ("x, + / -", "mute the selected one, louder / quieter"),
    ("?", "this help"),
    ("q / Ctrl-C", "leave the space"),
];

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(action_for_key(key(KeyCode::Char('z'))), None);
    }

    #[test]
    fn media_keys_switch_and_say_when_there_is_no_sound() {
        let mut s = State::new("x", ColorMode::TrueColor);
        s.controls.sound_available = false;
        assert_eq!(s.apply(Action::ToggleMic), None);
        assert!(s.notice.as_deref().unwrap_or("").contains("no sound"));
        assert!(s.controls.mic_on);
        assert_eq!(s.apply(Action::ToggleVideo), Some(Effect::MediaChanged));
        assert!(!s.controls.video_on);
        s.controls.video_available = false;
        assert_eq!(s.apply(Action::ToggleVideo), None);
        assert!(s.notice.as_deref().unwrap_or("").contains("--no-video"));

        s.controls.sound_available = true;
        assert_eq!(s.apply(Action::ToggleMic), Some(Effect::MediaChanged));
        assert!(!s.controls.mic_on);
        assert_eq!(s.apply(Action::ToggleSound), Some(Effect::MediaChanged));
        assert!(!s.controls.sound_on);
        assert_eq!(s.apply(Action::MuteSelected), None, "nobody to mute");
        s.upsert("a");
        s.upsert("b");
        s.apply(Action::Next);
        assert_eq!(s.apply(Action::MuteSelected), Some(Effect::MediaChanged));
        s.apply(Action::Louder);
        assert!(s.participants[1].hearing.muted);
        assert_eq!(s.participants[1].hearing.volume, 125);
        assert_eq!(s.participants[0].hearing, Hearing::default());
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
            s.upsert(id);
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
        s.upsert("a");
        assert_eq!(s.apply(Action::SaveFrame), None);
        s.participant_mut("a").unwrap().frame = Some(Arc::new(
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
        assert_eq!(s.sound.as_deref(), Some("no sound output · no microphone"));
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
