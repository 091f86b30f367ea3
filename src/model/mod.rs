//! The people in a space and our links to it: who is there, how each call is doing, their
//! newest picture and how loud we hear them, our own switches. What `join`, `bot`, `demo`
//! and the session share; the screen adds only its own state around it (`ui::State`).
//! Pure data: imports nothing of the screen, the network or the media.

pub mod chat;
pub mod controls;

use std::collections::HashMap;
use std::sync::Arc;

use crate::render::I420Frame;
use crate::text::sanitize;
pub use chat::Chat;
pub use controls::{Controls, Hearing};

/// Longest name or id shown anywhere.
pub const MAX_LABEL: usize = 40;

/// How a participant's call is doing, as their tile shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileState {
    Connecting,
    Live,
    /// Connected, but no video has arrived (or they send none).
    NoVideo,
    /// Connected and sending video before, but no packet for a while (a stopped camera, a
    /// track replaced by nothing, a network hiccup): the last picture would be a lie.
    Paused,
    /// Signaling could not reach them (EXPIRE) or ICE failed.
    Unreachable,
}

impl TileState {
    pub fn label(self) -> &'static str {
        match self {
            TileState::Connecting => "connecting",
            TileState::Live => "live",
            TileState::NoVideo => "no video",
            TileState::Paused => "video paused",
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

/// Everyone in the space as we know them, and our own side.
#[derive(Debug, Clone)]
pub struct Room {
    /// The space, e.g. `127.0.0.1:3000 CSC342`.
    pub space_label: String,
    pub our_id: Option<String>,
    pub our_name: Option<String>,
    pub space_link: Link,
    pub peer_link: Link,
    pub participants: Vec<Participant>,
    pub self_view: Option<Arc<I420Frame>>,
    /// Microphone, video and sound switches.
    pub controls: Controls,
    /// What is wrong with sound (no speaker, no microphone), short (sanitized); `None`
    /// while sound works or is not built in.
    pub sound: Option<String>,
    /// Names members gave the space server, by peer id (cleaned): a tile takes its name
    /// from here when its call carries none, however the two arrive.
    pub space_names: HashMap<String, String>,
    pub chat: Chat,
}

impl Room {
    pub fn new(space_label: &str) -> Room {
        Room {
            space_label: sanitize(space_label, 80),
            our_id: None,
            our_name: None,
            space_link: Link::Connecting,
            peer_link: Link::Connecting,
            participants: Vec::new(),
            self_view: None,
            controls: Controls::default(),
            sound: None,
            space_names: HashMap::new(),
            chat: Chat::default(),
        }
    }

    /// Names from the space server: kept, and given to those already on screen.
    pub fn learn_names(&mut self, names: &[(String, String)]) {
        for (peer, name) in names {
            if let Some(p) = self.participant_mut(peer) {
                p.set_name(name);
            }
            // Bounded like the room: a hostile server cannot grow it past its members.
            if self.space_names.len() < 10_000 || self.space_names.contains_key(peer) {
                self.space_names.insert(peer.clone(), name.clone());
            }
        }
    }

    pub fn participant(&self, peer_id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.peer_id == peer_id)
    }

    pub fn participant_mut(&mut self, peer_id: &str) -> Option<&mut Participant> {
        self.participants.iter_mut().find(|p| p.peer_id == peer_id)
    }

    /// Adds a participant if new; returns it.
    pub fn upsert(&mut self, peer_id: &str) -> &mut Participant {
        let index = match self.participants.iter().position(|p| p.peer_id == peer_id) {
            Some(i) => i,
            None => {
                let mut p = Participant::new(peer_id);
                if let Some(name) = self.space_names.get(peer_id) {
                    p.set_name(name);
                }
                self.participants.push(p);
                self.participants.len() - 1
            }
        };
        &mut self.participants[index]
    }

    pub fn remove(&mut self, peer_id: &str) {
        self.participants.retain(|p| p.peer_id != peer_id);
        self.space_names.remove(peer_id);
    }

    /// Adds a sound problem's short form (problems add up: the speaker and the microphone
    /// can both fail).
    pub fn add_sound_trouble(&mut self, text: &str) {
        let short = sanitize(text.split(':').next().unwrap_or(text), 40);
        match &mut self.sound {
            Some(all) if all.contains(&short) => {}
            Some(all) => *all = format!("{all} · {short}"),
            None => self.sound = Some(short),
        }
    }
}
