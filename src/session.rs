//! A session in a space: the PeerJS client, the space connection and one call per remote
//! peer, kept in a shared [`crate::ui::State`] that the terminal (or a test) renders. Used by
//! `join` with a terminal UI and by `bot` without one.
//!
//! The workshop's flow: everyone already in the space calls a newcomer, so we register with
//! the PeerServer and can answer *before* we announce ourselves with `join-space`; then we
//! call everyone who joins after us.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::audio::{AudioConfig, AudioHandle};
use crate::call::{self, CallConfig, CallContext, CallEvent, CallHandle, FrameSink, VideoSource};
use crate::media::clip::Clip;
use crate::media::picture::{self, CameraChoice, Notice, Picture};
use crate::media::testcard::{Motion, Palette, TestCard};
use crate::peerjs::client::{IceCandidate, PeerClient, PeerServerUrl, RegisterError, SignalEvent};
use crate::render::ColorMode;
use crate::space::{self, SpaceEvent, SpaceUrl};
use crate::ui::{Link, State, TileState};

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
    pub color: ColorMode,
    /// Sound (needs the `audio` feature; ignored without it).
    pub audio: AudioConfig,
}

/// The state a session keeps up to date, and a signal that it changed.
pub struct Shared {
    state: Mutex<State>,
    pub changed: Notify,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state());
        self.changed.notify_one();
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
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Session {
    /// Registers with the PeerServer, then joins the space and runs until [`Session::leave`].
    pub async fn start(config: SessionConfig) -> Result<Session, RegisterError> {
        let mut state = State::new(&config.space.label(), config.color);
        state.controls.video_available = config.card.is_some();
        state.our_name = config
            .name
            .as_deref()
            .map(|n| crate::text::sanitize(n, crate::ui::MAX_LABEL));
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            changed: Notify::new(),
        });
        let cancel = CancellationToken::new();
        let (signal_tx, signal_rx) = mpsc::channel(256);
        let peer =
            PeerClient::register(config.peer_server.clone(), signal_tx, cancel.clone()).await?;
        let our_id = peer.id.clone();
        shared.update(|s| {
            s.our_id = Some(our_id.clone());
            s.peer_link = Link::Up;
        });
        let frames: FrameSink = {
            let shared = shared.clone();
            Arc::new(move |peer: &str, frame| {
                shared.update(|s| {
                    if let Some(p) = s.participant_mut(peer) {
                        p.frame = Some(frame);
                        p.state = TileState::Live;
                    }
                });
            })
        };
        let speaking: call::SpeakingSink = {
            let shared = shared.clone();
            Arc::new(move |peer: &str, speaking| {
                shared.update(|s| {
                    if let Some(p) = s.participant_mut(peer) {
                        p.speaking = speaking;
                    }
                });
            })
        };
        let video = match &config.card {
            Some(spec) => {
                let name = config.name.as_deref().unwrap_or("packspaces");
                let card = TestCard::new(spec.width, spec.height, name, spec.palette)
                    .with_motion(spec.motion);
                let (card, fps) = match &spec.clip {
                    Some(path) => outgoing_clip(path, spec, name, card, &shared).await,
                    None => (outgoing_picture(spec, card, &shared).await, spec.fps),
                };
                let preview: Option<call::send::Preview> = config.self_view.then(|| {
                    let shared = shared.clone();
                    Arc::new(move |frame| shared.update(|s| s.self_view = Some(frame)))
                        as call::send::Preview
                });
                VideoSource::test_card(card, fps, 400_000, preview, cancel.clone())
                    .map_err(|e| {
                        tracing::warn!("no outgoing video: {e}");
                        e
                    })
                    .ok()
            }
            None => None,
        };
        let audio = start_audio(&config.audio, &shared, &cancel);
        shared.update(|s| {
            s.controls.sound_available = audio.mixer.is_some() || audio.source.is_some();
        });
        let audio_sink = audio.mixer.clone().map(|mixer| {
            Arc::new(move |peer: &str, packet| {
                mixer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(peer, packet);
            }) as call::AudioSink
        });
        let (call_tx, call_rx) = mpsc::channel(64);
        let ctx = CallContext {
            config: config.call.clone(),
            signals: peer.sender(),
            events: call_tx,
            frames,
            speaking,
            video: video.clone(),
            audio: audio.source.clone(),
            audio_sink,
        };
        let (space_tx, space_rx) = mpsc::channel(64);
        tokio::spawn(space::run(
            config.space.clone(),
            our_id.clone(),
            space_tx,
            cancel.clone(),
        ));
        let task = tokio::spawn(
            Runner {
                shared: shared.clone(),
                ctx,
                our_id: our_id.clone(),
                calls: HashMap::new(),
                early_candidates: HashMap::new(),
                _peer: peer,
            }
            .run(signal_rx, space_rx, call_rx, cancel.clone()),
        );
        Ok(Session {
            shared,
            our_id,
            video,
            audio,
            cancel,
            task,
        })
    }

    /// Applies the state's media switches ([`crate::ui::Controls`]) to what we send.
    pub fn apply_controls(&self) {
        let (controls, hearing): (_, Vec<(String, f32)>) = {
            let state = self.shared.state();
            let hearing = state
                .participants
                .iter()
                .map(|p| (p.peer_id.clone(), p.hearing.gain()))
                .collect();
            (state.controls, hearing)
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

/// The camera `spec` chooses, else the card; why there is no camera (none found, cannot
/// open, no camera support in this build) goes to the status bar.
async fn outgoing_picture(spec: &CardSpec, card: TestCard, shared: &Arc<Shared>) -> Picture {
    if spec.camera == CameraChoice::Off {
        return Picture::card(card);
    }
    let notice = notice_sink(shared);
    let (choice, width, height, fps) = (spec.camera, card.width, card.height, spec.fps);
    // Opening a camera blocks (V4L2 ioctls, up to a few seconds for a slow one).
    let opened =
        tokio::task::spawn_blocking(move || picture::open_camera(choice, width, height, fps))
            .await
            .unwrap_or_else(|e| Err(format!("camera: {e}")));
    match opened {
        Ok(live) => Picture::live(card, live, notice),
        Err(why) => {
            tracing::info!("no camera: {why}");
            notice(&format!("{why}: sending the test card"));
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
    shared: &Arc<Shared>,
) -> (Picture, u32) {
    let notice = notice_sink(shared);
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
            (Picture::live(card, Box::new(clip), notice), fps)
        }
        Err(why) => {
            notice(&format!(
                "cannot play {}: {why}: sending the test card",
                path.display()
            ));
            (Picture::card(card), spec.fps)
        }
    }
}

/// Where the outgoing picture's troubles go: the status bar.
fn notice_sink(shared: &Arc<Shared>) -> Notice {
    let shared = shared.clone();
    Arc::new(move |text: &str| shared.update(|s| s.notify(text)))
}

/// Starts the session's sound; device trouble goes to the status bar.
#[cfg(feature = "audio")]
fn start_audio(
    config: &AudioConfig,
    shared: &Arc<Shared>,
    cancel: &CancellationToken,
) -> AudioHandle {
    let trouble: crate::audio::Trouble = {
        let shared = shared.clone();
        Arc::new(move |message: String| shared.update(|s| s.sound_trouble(&message)))
    };
    crate::audio::setup::start(config, &trouble, cancel)
}

/// Without the `audio` feature there is no sound to start.
#[cfg(not(feature = "audio"))]
fn start_audio(_: &AudioConfig, _: &Arc<Shared>, _: &CancellationToken) -> AudioHandle {
    AudioHandle::default()
}

struct Runner {
    shared: Arc<Shared>,
    ctx: CallContext,
    our_id: String,
    calls: HashMap<String, CallHandle>,
    /// Candidates that arrived before their call (by connection id), bounded.
    early_candidates: HashMap<String, Vec<IceCandidate>>,
    /// Keeps the PeerJS command channel open for the session's lifetime.
    _peer: PeerClient,
}

impl Runner {
    async fn run(
        mut self,
        mut signals: mpsc::Receiver<SignalEvent>,
        mut space: mpsc::Receiver<SpaceEvent>,
        mut calls: mpsc::Receiver<CallEvent>,
        cancel: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(event) = signals.recv() => self.on_signal(event).await,
                Some(event) = space.recv() => self.on_space(event).await,
                Some(event) = calls.recv() => self.on_call(event),
                else => break,
            }
        }
        for call in self.calls.values() {
            call.hang_up().await;
        }
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        self.shared.update(f);
    }

    async fn hang_up(&mut self, peer: &str) {
        if let Some(call) = self.calls.remove(peer) {
            call.hang_up().await;
        }
    }

    async fn on_signal(&mut self, event: SignalEvent) {
        match event {
            SignalEvent::Open { .. } => self.update(|s| s.peer_link = Link::Up),
            SignalEvent::Offer {
                peer,
                connection_id,
                sdp,
                metadata,
            } => {
                // A new offer replaces any call we had with them (they reconnected).
                self.hang_up(&peer).await;
                let name = call::name_from_metadata(metadata.as_ref());
                self.update(|s| {
                    let p = s.upsert(&peer);
                    p.state = TileState::Connecting;
                    if let Some(n) = &name {
                        p.set_name(n);
                    }
                });
                let handle = call::answer(
                    self.ctx.clone(),
                    peer.clone(),
                    connection_id.clone(),
                    sdp.sdp,
                );
                for c in self
                    .early_candidates
                    .remove(&connection_id)
                    .unwrap_or_default()
                {
                    handle.remote_candidate(c).await;
                }
                self.calls.insert(peer, handle);
            }
            SignalEvent::Answer {
                peer,
                connection_id,
                sdp,
                metadata,
            } => match self.calls.get(&peer) {
                Some(call) if call.connection_id == connection_id => {
                    call.remote_answer(sdp.sdp).await;
                    // Other packspaces clients name themselves in their answers.
                    if let Some(name) = call::name_from_metadata(metadata.as_ref()) {
                        self.update(|s| {
                            if let Some(p) = s.participant_mut(&peer) {
                                p.set_name(&name);
                            }
                        });
                    }
                }
                _ => tracing::info!("answer from {peer} for an unknown call ignored"),
            },
            SignalEvent::Candidate {
                peer,
                connection_id,
                candidate,
            } => match self.calls.get(&peer) {
                Some(call) if call.connection_id == connection_id => {
                    call.remote_candidate(candidate).await
                }
                _ => {
                    if self.early_candidates.len() < 64 {
                        let list = self.early_candidates.entry(connection_id).or_default();
                        if list.len() < 32 {
                            list.push(candidate);
                        }
                    }
                }
            },
            SignalEvent::Leave { peer } => {
                self.hang_up(&peer).await;
                self.update(|s| s.remove(&peer));
            }
            SignalEvent::Expire { peer } => {
                self.hang_up(&peer).await;
                self.update(|s| {
                    if let Some(p) = s.participant_mut(&peer) {
                        p.state = TileState::Unreachable;
                    }
                    s.notify(&format!("{peer} is not connected to the PeerJS server"));
                });
            }
            SignalEvent::Error(message) => {
                self.update(|s| s.notify(&format!("PeerJS server: {message}")))
            }
            SignalEvent::Disconnected { reason, .. } => {
                self.update(|s| s.peer_link = Link::Down(reason))
            }
        }
    }

    async fn on_space(&mut self, event: SpaceEvent) {
        match event {
            SpaceEvent::Joined => self.update(|s| s.space_link = Link::Up),
            SpaceEvent::UserConnected(peer) => {
                if peer == self.our_id || self.calls.contains_key(&peer) {
                    return;
                }
                self.update(|s| s.upsert(&peer).state = TileState::Connecting);
                let handle = call::call(self.ctx.clone(), peer.clone());
                self.calls.insert(peer, handle);
            }
            SpaceEvent::UserDisconnected(peer) => {
                self.hang_up(&peer).await;
                self.update(|s| s.remove(&peer));
            }
            // Members call us, and their tile comes with the call. One that never calls (a
            // `packspaces monitor` takes no calls and places none) must leave no tile
            // stuck at "connecting".
            SpaceEvent::Members(peers) => {
                tracing::debug!("space: {} members before us", peers.len());
            }
            SpaceEvent::Refused(message) => {
                self.update(|s| s.notify(&format!("space server: {message}")))
            }
            SpaceEvent::Disconnected { reason, .. } => {
                self.update(|s| s.space_link = Link::Down(reason))
            }
        }
    }

    fn on_call(&mut self, event: CallEvent) {
        match event {
            CallEvent::Connected {
                peer,
                connection_id,
            } => {
                if self
                    .calls
                    .get(&peer)
                    .is_some_and(|c| c.connection_id == connection_id)
                {
                    self.update(|s| {
                        if let Some(p) = s.participant_mut(&peer)
                            && p.frame.is_none()
                        {
                            p.state = TileState::Live;
                        }
                    });
                }
            }
            CallEvent::Ended {
                peer,
                connection_id,
                reason,
            } => {
                if self
                    .calls
                    .get(&peer)
                    .is_none_or(|c| c.connection_id != connection_id)
                {
                    return;
                }
                self.calls.remove(&peer);
                self.update(|s| {
                    if let Some(p) = s.participant_mut(&peer) {
                        p.state = if reason.contains("failed") || reason.contains("lost") {
                            TileState::Unreachable
                        } else {
                            TileState::NoVideo
                        };
                        p.frame = None;
                    }
                });
            }
        }
    }
}
