//! A session in a space: the PeerJS client, the space connection and one call per remote
//! peer, kept in a shared [`crate::ui::State`] that the terminal (or a test) renders. Used by
//! `join` with a terminal UI and by `bot` without one. The rules of who calls whom are the
//! [`CallManager`]'s; the runner here is only its I/O shell.
//!
//! The workshop's flow: everyone already in the space calls a newcomer, so we register with
//! the PeerServer and can answer *before* we announce ourselves with `join-space`; then we
//! call everyone who joins after us.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::audio::{AudioConfig, AudioHandle};
use crate::call::bitrate::{self, Want, Wants, WantsReceiver};
use crate::call::manager::{Input, Output, Show};
use crate::call::{
    self, CallConfig, CallContext, CallEvent, CallHandle, CallManager, ToCall, VideoSource,
};
use crate::feed::{self, Feed, FeedReceiver, MediaEvent, News, Picture as FeedPicture};
use crate::media::clip::Clip;
use crate::media::picture::{self, CameraChoice, Picture};
use crate::media::testcard::{Motion, Palette, TestCard};
use crate::model::{Link, TileState};
use crate::peerjs::client::{PeerClient, PeerServerUrl, RegisterError, SignalEvent};
use crate::render::ColorMode;
use crate::space::protocol::clean_name;
use crate::space::{self, Joiner, SpaceEvent, SpaceUrl};
use crate::ui::{State, view};

/// Our outgoing video: the camera, if one is chosen and works, else the test card. The
/// camera's picture is scaled to the card's size.
#[derive(Debug, Clone)]
pub struct CardSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub palette: Palette,
    pub motion: Motion,
    pub camera: CameraChoice,
    /// A video file to send instead, in a loop (its own size and frame rate).
    pub clip: Option<std::path::PathBuf>,
}

impl Default for CardSpec {
    fn default() -> Self {
        Self {
            width: 320,
            height: 240,
            fps: 15,
            palette: crate::media::testcard::PALETTES[2],
            motion: Motion::default(),
            camera: CameraChoice::Off,
            clip: None,
        }
    }
}

/// How to join.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub space: SpaceUrl,
    pub peer_server: PeerServerUrl,
    pub name: Option<String>,
    pub call: CallConfig,
    /// `None`: send no video (`--no-video`).
    pub card: Option<CardSpec>,
    /// Show our own picture (costs a little CPU; bots do not need it).
    pub self_view: bool,
    /// Someone looks at the pictures (a screen, a test). A bot's are never shown: it asks
    /// everyone to send it the least and decodes nothing.
    pub watched: bool,
    pub color: ColorMode,
    /// Sound (needs the `audio` feature; ignored without it).
    pub audio: AudioConfig,
}

/// The state a session keeps up to date. Every change wakes whoever watches it (the
/// screen, tests), as the monitor's state does: one `watch` channel.
pub struct Shared {
    state: watch::Sender<State>,
}

impl Shared {
    /// The state now. A read lock: never hold it across an `.await` or an update.
    pub fn state(&self) -> watch::Ref<'_, State> {
        self.state.borrow()
    }

    /// Changes the state and wakes its watchers; returns what `change` returns.
    pub fn update<R>(&self, change: impl FnOnce(&mut State) -> R) -> R {
        let mut result = None;
        self.state.send_modify(|s| result = Some(change(s)));
        match result {
            Some(r) => r,
            None => unreachable!("send_modify always applies the change"),
        }
    }

    /// Changes the state, waking its watchers only if `change` says it changed anything;
    /// returns that.
    pub fn update_if(&self, change: impl FnOnce(&mut State) -> bool) -> bool {
        self.state.send_if_modified(change)
    }

    /// A receiver whose `changed()` wakes on every change.
    pub fn watch(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }
}

/// A running session.
pub struct Session {
    pub shared: Arc<Shared>,
    pub our_id: String,
    /// Our outgoing video, if we send any.
    video: Option<VideoSource>,
    /// Our sound: the mixer and our outgoing source, when there are any.
    pub audio: AudioHandle,
    /// Chat lines to send to the space.
    say: mpsc::Sender<String>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Session {
    /// Registers with the PeerServer, then joins the space and runs until [`Session::leave`].
    pub async fn start(config: SessionConfig) -> Result<Session, RegisterError> {
        let mut state = State::new(&config.space.label(), config.color);
        state.room.controls.video_available = config.card.is_some();
        state.room.our_name = config
            .name
            .as_deref()
            .map(|n| crate::text::sanitize(n, crate::model::MAX_LABEL));
        let shared = Arc::new(Shared {
            state: watch::channel(state).0,
        });
        let cancel = CancellationToken::new();
        let (signal_tx, signal_rx) = mpsc::channel(256);
        let peer =
            PeerClient::register(config.peer_server.clone(), signal_tx, cancel.clone()).await?;
        let our_id = peer.id.clone();
        shared.update(|s| {
            s.room.our_id = Some(our_id.clone());
            s.room.peer_link = Link::Up;
        });
        // Frames, who speaks and media trouble come back through one feed.
        let (feed, news) = feed::channel();
        let video = match &config.card {
            Some(spec) => {
                let name = config.name.as_deref().unwrap_or("packspaces");
                let card = TestCard::new(spec.width, spec.height, name, spec.palette)
                    .with_motion(spec.motion);
                let (card, fps) = match &spec.clip {
                    Some(path) => outgoing_clip(path, spec, name, card, &feed).await,
                    None => (outgoing_picture(spec, card, &feed).await, spec.fps),
                };
                let self_view = config.self_view.then(|| feed.clone());
                VideoSource::start(card, fps, 400_000, self_view, cancel.clone())
                    .map_err(|e| {
                        tracing::warn!("no outgoing video: {e}");
                        e
                    })
                    .ok()
            }
            None => None,
        };
        let audio = start_audio(&config.audio, &feed, &cancel);
        shared.update(|s| {
            s.room.controls.sound_available = audio.mixer.is_some() || audio.source.is_some();
        });
        let (call_tx, call_rx) = mpsc::channel(64);
        let wants = publish_wants(&shared, config.watched, &cancel);
        let ctx = CallContext {
            config: config.call.clone(),
            signals: peer.sender(),
            events: call_tx,
            feed,
            video: video.clone(),
            audio: audio.source.clone(),
            mixer: audio.mixer.clone(),
            wants,
        };
        let (space_tx, space_rx) = mpsc::channel(64);
        let (say, said) = mpsc::channel(32);
        let joiner = Joiner {
            peer_id: our_id.clone(),
            name: config.name.as_deref().and_then(clean_name),
        };
        tokio::spawn(space::run(
            config.space.clone(),
            joiner,
            space_tx,
            said,
            cancel.clone(),
        ));
        let task = tokio::spawn(
            Runner {
                shared: shared.clone(),
                ctx,
                manager: CallManager::new(&our_id, call::new_connection_id),
                calls: HashMap::new(),
                _peer: peer,
            }
            .run(signal_rx, space_rx, call_rx, news, cancel.clone()),
        );
        Ok(Session {
            shared,
            our_id,
            video,
            audio,
            say,
            cancel,
            task,
        })
    }

    /// Sends a chat line to the space (it shows when the server relays it back). Waits
    /// while a reconnect holds earlier lines; false once the session has stopped.
    pub async fn say(&self, text: &str) -> bool {
        self.say.send(text.to_string()).await.is_ok()
    }

    /// Applies the state's media switches ([`crate::model::Controls`]) to what we send.
    pub fn apply_controls(&self) {
        let (controls, hearing): (_, Vec<(String, f32)>) = {
            let state = self.shared.state();
            let hearing = state
                .room
                .participants
                .iter()
                .map(|p| (p.peer_id.clone(), p.hearing.gain()))
                .collect();
            (state.room.controls, hearing)
        };
        if let Some(video) = &self.video {
            video.set_video_on(controls.video_on);
        }
        self.audio.set_muted(!controls.mic_on);
        if let Some(mut mixer) = self.audio.mixer() {
            mixer.set_master(if controls.sound_on { 1.0 } else { 0.0 });
            for (peer, gain) in hearing {
                mixer.set_gain(&peer, gain);
            }
        }
    }

    /// Hangs up every call, leaves the space and stops.
    pub async fn leave(self) {
        self.cancel.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), self.task).await;
    }
}

/// Keeps what each peer's tile needs ([`Wants`]) up to date with the state, for the calls'
/// bitrate requests: a zoom, a page turn, a re-flow or a resize changes it.
fn publish_wants(shared: &Arc<Shared>, watched: bool, cancel: &CancellationToken) -> WantsReceiver {
    if !watched {
        // Never changes: the receivers keep reading it after the sender is gone.
        return watch::channel(Wants {
            peers: HashMap::new(),
            ceiling: Some(bitrate::NOT_SHOWN),
        })
        .1;
    }
    let mut changes = shared.watch();
    let (tx, rx) = watch::channel(wants_for(&changes.borrow_and_update()));
    let cancel = cancel.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                changed = changes.changed() => if changed.is_err() { break },
            }
            let wants = wants_for(&changes.borrow_and_update());
            tx.send_if_modified(|old| {
                let changed = *old != wants;
                *old = wants;
                changed
            });
        }
    });
    rx
}

/// What every peer's tile needs on the screen the state is shown on (nothing without one).
fn wants_for(state: &State) -> Wants {
    let Some((cols, rows)) = state.screen else {
        return Wants::default();
    };
    let (w, h) = view::zoomed_area(cols, rows);
    Wants {
        peers: view::picture_areas(state, cols, rows)
            .into_iter()
            .map(|(peer, (w, h))| {
                let want = Want {
                    bitrate: bitrate::for_cells(w, h),
                    shown: true,
                };
                (peer.to_string(), want)
            })
            .collect(),
        ceiling: Some(bitrate::for_cells(w, h)),
    }
}

/// The camera `spec` chooses, else the card; why there is no camera (none found, cannot
/// open, no camera support in this build) goes to the status bar.
async fn outgoing_picture(spec: &CardSpec, card: TestCard, feed: &Feed) -> Picture {
    if spec.camera == CameraChoice::Off {
        return Picture::card(card);
    }
    let (choice, width, height, fps) = (spec.camera, card.width, card.height, spec.fps);
    // Opening a camera blocks (V4L2 ioctls, up to a few seconds for a slow one).
    let opened =
        tokio::task::spawn_blocking(move || picture::open_camera(choice, width, height, fps))
            .await
            .unwrap_or_else(|e| Err(format!("camera: {e}")));
    match opened {
        Ok(live) => Picture::live(card, live, feed.clone()),
        Err(why) => {
            tracing::info!("no camera: {why}");
            feed.notice(&format!("{why}: sending the test card"));
            Picture::card(card)
        }
    }
}

/// A video file, looping, at its own size and frame rate (rounded, 1-60); if it cannot be
/// read, the card, and the status bar says why.
async fn outgoing_clip(
    path: &std::path::Path,
    spec: &CardSpec,
    name: &str,
    card: TestCard,
    feed: &Feed,
) -> (Picture, u32) {
    let opened = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Clip::open(&path))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
    };
    match opened {
        Ok(clip) => {
            let fps = (clip.fps().round() as u32).clamp(1, 60);
            let card = TestCard::new(clip.width(), clip.height(), name, spec.palette)
                .with_motion(spec.motion);
            (Picture::live(card, Box::new(clip), feed.clone()), fps)
        }
        Err(why) => {
            feed.notice(&format!(
                "cannot play {}: {why}: sending the test card",
                path.display()
            ));
            (Picture::card(card), spec.fps)
        }
    }
}

/// Starts the session's sound; device trouble goes to the status bar.
#[cfg(feature = "audio")]
fn start_audio(config: &AudioConfig, feed: &Feed, cancel: &CancellationToken) -> AudioHandle {
    crate::audio::setup::start(config, feed, cancel)
}

/// Without the `audio` feature there is no sound to start.
#[cfg(not(feature = "audio"))]
fn start_audio(_: &AudioConfig, _: &Feed, _: &CancellationToken) -> AudioHandle {
    AudioHandle::default()
}

/// The session's I/O shell: feeds the call manager what the PeerServer, the space and the
/// calls say, starts the calls it asks for, passes messages to them and applies what it
/// shows to the state.
struct Runner {
    shared: Arc<Shared>,
    ctx: CallContext,
    manager: CallManager,
    /// The running calls, by connection id.
    calls: HashMap<String, CallHandle>,
    /// Keeps the PeerJS command channel open for the session's lifetime.
    _peer: PeerClient,
}

impl Runner {
    async fn run(
        mut self,
        mut signals: mpsc::Receiver<SignalEvent>,
        mut space: mpsc::Receiver<SpaceEvent>,
        mut calls: mpsc::Receiver<CallEvent>,
        mut media: FeedReceiver,
        cancel: CancellationToken,
    ) {
        loop {
            let input = tokio::select! {
                _ = cancel.cancelled() => break,
                Some(event) = signals.recv() => Input::Signal(event),
                Some(event) = space.recv() => {
                    self.shared.update_if(|s| take_space_news(s, &event));
                    // Names and chat are the screen's alone; no call depends on them.
                    if matches!(event, SpaceEvent::Names(_) | SpaceEvent::Chat(_)) {
                        continue;
                    }
                    Input::Space(event)
                }
                Some(event) = calls.recv() => Input::Call(event),
                Some(news) = media.next() => {
                    self.shared.update(|s| take_news(s, news));
                    continue;
                }
                else => break,
            };
            self.handle(input).await;
        }
        self.handle(Input::Stop).await;
    }

    async fn handle(&mut self, input: Input) {
        if let Input::Call(CallEvent::Ended { connection_id, .. }) = &input {
            self.calls.remove(connection_id);
        }
        for output in self.manager.handle(input, std::time::Instant::now()) {
            match output {
                Output::Answer {
                    peer,
                    connection_id,
                    offer,
                } => {
                    let handle = call::answer(self.ctx.clone(), peer, connection_id.clone(), offer);
                    self.calls.insert(connection_id, handle);
                }
                Output::Call {
                    peer,
                    connection_id,
                } => {
                    let handle = call::call(self.ctx.clone(), peer, connection_id.clone());
                    self.calls.insert(connection_id, handle);
                }
                Output::ToCall {
                    connection_id,
                    message,
                    ..
                } => {
                    if message == ToCall::HangUp {
                        if let Some(call) = self.calls.remove(&connection_id) {
                            call.send(message).await;
                        }
                    } else if let Some(call) = self.calls.get(&connection_id) {
                        call.send(message).await;
                    }
                }
                Output::Show(change) => self.shared.update(|s| show(s, change)),
            }
        }
    }
}

/// Puts what the space said about names and chat into the state; true if it changed it.
fn take_space_news(s: &mut State, event: &SpaceEvent) -> bool {
    match event {
        SpaceEvent::Names(names) => s.room.learn_names(names),
        SpaceEvent::Chat(line) => s.take_chat(line),
        // Only a packspaces server lists a newcomer's members, and only it relays chat.
        SpaceEvent::Members(_) if !s.room.chat.available => s.room.chat.available = true,
        _ => return false,
    }
    true
}

/// Puts what the media side reported into the state.
fn take_news(s: &mut State, news: News) {
    match news {
        News::Frames(frames) => {
            for (picture, frame) in frames {
                match picture {
                    FeedPicture::Peer(peer) => {
                        if let Some(p) = s.room.participant_mut(&peer) {
                            p.frame = Some(frame);
                            p.state = TileState::Live;
                        }
                    }
                    FeedPicture::Own => s.room.self_view = Some(frame),
                }
            }
        }
        News::Event(MediaEvent::Speaking { peer, speaking }) => {
            if let Some(p) = s.room.participant_mut(&peer) {
                p.speaking = speaking;
            }
            s.follow();
        }
        News::Event(MediaEvent::VideoPaused { peer, paused }) => {
            // Only a live tile pauses, and only a paused one resumes: an ended call stays
            // ended whatever arrives late.
            if let Some(p) = s.room.participant_mut(&peer) {
                match (paused, p.state) {
                    (true, TileState::Live) => p.state = TileState::Paused,
                    (false, TileState::Paused) => p.state = TileState::Live,
                    _ => {}
                }
            }
        }
        News::Event(MediaEvent::Notice(text)) => s.notify(&text),
        News::Event(MediaEvent::SoundTrouble(text)) => s.sound_trouble(&text),
    }
}

/// Applies what the call manager shows to the state.
fn show(s: &mut State, change: Show) {
    match change {
        Show::Tile { peer, state } => s.room.upsert(&peer).state = state,
        Show::Name { peer, name } => {
            if let Some(p) = s.room.participant_mut(&peer) {
                p.set_name(&name);
            }
        }
        Show::Connected { peer } => {
            if let Some(p) = s.room.participant_mut(&peer)
                && p.frame.is_none()
            {
                p.state = TileState::Live;
            }
        }
        Show::Ended { peer, state } => {
            if let Some(p) = s.room.participant_mut(&peer) {
                p.state = state;
                p.frame = None;
            }
        }
        Show::Unreachable { peer } => {
            if let Some(p) = s.room.participant_mut(&peer) {
                p.state = TileState::Unreachable;
            }
        }
        Show::Gone { peer } => s.remove(&peer),
        Show::Notice(text) => s.notify(&text),
        Show::PeerServer(link) => s.room.peer_link = link,
        Show::Space(link) => s.room.space_link = link,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::Action;

    fn class(size: usize) -> State {
        let mut state = State::new("CSC342", ColorMode::TrueColor);
        for i in 0..size {
            state.room.upsert(&format!("peer-{i:02}")).state = TileState::Live;
        }
        state
    }

    #[test]
    fn tiles_on_screen_ask_by_size_and_the_rest_for_the_least() {
        let mut state = class(30);
        assert_eq!(wants_for(&state), Wants::default(), "no screen, no asking");
        state.set_screen(120, 30);
        let wants = wants_for(&state);
        let shown: Vec<&String> = wants.peers.keys().collect();
        assert_eq!(
            shown.len(),
            state.per_page - 1,
            "our own tile is on the page too"
        );
        let first = wants.of("peer-00").unwrap();
        assert!(first.shown && first.bitrate > bitrate::NOT_SHOWN);
        let last = wants.of("peer-29").unwrap();
        assert!(!last.shown && last.bitrate == bitrate::NOT_SHOWN);
        // Zoomed: only that one is shown, and it asks for more than a grid tile did.
        state.selected = 29;
        state.apply(Action::Focus);
        let zoomed = wants_for(&state);
        assert_eq!(zoomed.peers.len(), 1);
        let big = zoomed.of("peer-29").unwrap();
        assert!(big.shown && big.bitrate > first.bitrate);
        assert!(!zoomed.of("peer-00").unwrap().shown);
        assert_eq!(
            zoomed.ceiling,
            Some(big.bitrate),
            "the ceiling is a zoomed tile's"
        );
    }

    #[test]
    fn a_live_tile_pauses_and_resumes_but_an_ended_call_stays_ended() {
        let paused = |peer: &str, paused: bool| {
            News::Event(MediaEvent::VideoPaused {
                peer: peer.into(),
                paused,
            })
        };
        let mut state = class(2);
        take_news(&mut state, paused("peer-00", true));
        assert_eq!(state.room.participants[0].state, TileState::Paused);
        take_news(&mut state, paused("peer-00", false));
        assert_eq!(state.room.participants[0].state, TileState::Live);
        // A late "paused" after the call ended, and a "resumed" for a tile never paused.
        state.room.participants[1].state = TileState::NoVideo;
        take_news(&mut state, paused("peer-01", true));
        take_news(&mut state, paused("peer-01", false));
        assert_eq!(state.room.participants[1].state, TileState::NoVideo);
        take_news(&mut state, paused("nobody", true));
    }
}
