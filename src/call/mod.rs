//! One WebRTC call per remote peer (webrtc-rs 0.21; only this module touches it): answers
//! PeerJS offers or places calls, trickles candidates both ways (buffering remote ones until
//! the remote description is set), receives and decodes video into the frame sink, sends our
//! video, accepts peerjs 1.5.x's data channel, and ends on hang-up, ICE failure, or that data
//! channel closing.

pub mod codecs;
pub mod receive;
pub mod send;
pub mod send_audio;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription, Registry, register_default_interceptors,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};

use crate::audio::source::AudioSource;
use crate::peerjs::client::{IceCandidate, SessionDescription, SignalCommand};
pub use codecs::VideoCodec;
use codecs::{choose_for_offer, first_mid, media_engine};
pub use receive::{AudioSink, FrameSink, SpeakingSink};
pub use send::VideoSource;

/// How long ICE may stay `disconnected` before we give the call up.
const DISCONNECTED_GRACE: Duration = Duration::from_secs(8);

/// Settings shared by every call of a session.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Local UDP address for ICE, e.g. `0.0.0.0:0`, or `127.0.0.1:0` for loopback only.
    pub udp_addr: String,
    /// STUN/TURN URLs.
    pub ice_servers: Vec<String>,
    /// Sent as PeerJS `metadata` on calls we place: `{"name": …}`.
    pub name: Option<String>,
    /// Video codecs we accept, best first.
    pub video_codecs: Vec<VideoCodec>,
}

/// What happened to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    Connected {
        peer: String,
        connection_id: String,
    },
    /// The call is over; `reason` says why.
    Ended {
        peer: String,
        connection_id: String,
        reason: String,
    },
}

/// Everything a call needs from its session.
#[derive(Clone)]
pub struct CallContext {
    pub config: CallConfig,
    pub signals: mpsc::Sender<SignalCommand>,
    pub events: mpsc::Sender<CallEvent>,
    pub frames: FrameSink,
    pub speaking: SpeakingSink,
    pub video: Option<VideoSource>,
    /// Our outgoing sound, if we send any.
    pub audio: Option<AudioSource>,
    /// Where their audio packets go, if we play them.
    pub audio_sink: Option<AudioSink>,
}

/// Messages from the session to a running call.
#[derive(Debug)]
enum Command {
    RemoteAnswer(String),
    RemoteCandidate(IceCandidate),
    HangUp,
}

/// The session's handle on one call.
pub struct CallHandle {
    pub peer: String,
    pub connection_id: String,
    commands: mpsc::Sender<Command>,
}

impl CallHandle {
    pub async fn remote_answer(&self, sdp: String) {
        let _ = self.commands.send(Command::RemoteAnswer(sdp)).await;
    }

    pub async fn remote_candidate(&self, candidate: IceCandidate) {
        let _ = self
            .commands
            .send(Command::RemoteCandidate(candidate))
            .await;
    }

    pub async fn hang_up(&self) {
        let _ = self.commands.send(Command::HangUp).await;
    }
}

/// Answers `peer`'s PeerJS offer.
pub fn answer(ctx: CallContext, peer: String, connection_id: String, offer: String) -> CallHandle {
    spawn(ctx, peer, connection_id, Role::Answer(offer))
}

/// Calls `peer` (we make the offer).
pub fn call(ctx: CallContext, peer: String) -> CallHandle {
    let connection_id = format!("mc_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    spawn(ctx, peer, connection_id, Role::Offer)
}

enum Role {
    Answer(String),
    Offer,
}

fn spawn(ctx: CallContext, peer: String, connection_id: String, role: Role) -> CallHandle {
    let (tx, rx) = mpsc::channel(64);
    let handle = CallHandle {
        peer: peer.clone(),
        connection_id: connection_id.clone(),
        commands: tx,
    };
    tokio::spawn(async move {
        let events = ctx.events.clone();
        let reason = match run_call(ctx, &peer, &connection_id, role, rx).await {
            Ok(reason) => reason,
            Err(e) => e,
        };
        tracing::info!("call {peer} ({connection_id}) ended: {reason}");
        let _ = events
            .send(CallEvent::Ended {
                peer,
                connection_id,
                reason,
            })
            .await;
    });
    handle
}

/// What the connection's event handler forwards to the call task.
enum PcEvent {
    LocalCandidate(RTCIceCandidateInit),
    State(RTCPeerConnectionState),
    DataChannelClosed,
}

struct Handler {
    peer: String,
    events: mpsc::UnboundedSender<PcEvent>,
    frames: FrameSink,
    speaking: SpeakingSink,
    audio_sink: Option<AudioSink>,
    /// The negotiated audio-level extension id (0 until the remote description is known).
    audio_level_id: Arc<AtomicU8>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.events.send(PcEvent::LocalCandidate(init));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PcEvent::State(state));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        // peerjs 1.5.x adds one to every media call and closes it to hang up.
        let events = self.events.clone();
        tokio::spawn(async move {
            while let Some(event) = channel.poll().await {
                if matches!(event, DataChannelEvent::OnClose) {
                    break;
                }
            }
            let _ = events.send(PcEvent::DataChannelClosed);
        });
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if track.kind().await == RtpCodecKind::Audio {
            tokio::spawn(receive::receive_audio(
                track,
                self.peer.clone(),
                self.audio_level_id.clone(),
                self.speaking.clone(),
                self.audio_sink.clone(),
            ));
        } else {
            tokio::spawn(receive::receive_track(
                track,
                self.peer.clone(),
                self.frames.clone(),
            ));
        }
    }
}

async fn new_peer_connection(
    ctx: &CallContext,
    peer: &str,
    video: &[VideoCodec],
    events: mpsc::UnboundedSender<PcEvent>,
    audio_level_id: Arc<AtomicU8>,
) -> Result<Arc<dyn PeerConnection>, String> {
    let mut engine = media_engine(video)?;
    let registry =
        register_default_interceptors(Registry::new(), &mut engine).map_err(|e| e.to_string())?;
    let ice_servers = if ctx.config.ice_servers.is_empty() {
        Vec::new()
    } else {
        vec![RTCIceServer {
            urls: ctx.config.ice_servers.clone(),
            ..Default::default()
        }]
    };
    let handler = Handler {
        peer: peer.to_string(),
        events,
        frames: ctx.frames.clone(),
        speaking: ctx.speaking.clone(),
        audio_sink: ctx.audio_sink.clone(),
        audio_level_id,
    };
    let pc = PeerConnectionBuilder::new()
        .with_configuration(
            RTCConfigurationBuilder::new()
                .with_ice_servers(ice_servers)
                .build(),
        )
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(handler))
        .with_udp_addrs(vec![ctx.config.udp_addr.clone()])
        .build()
        .await
        .map_err(|e| format!("cannot create a peer connection: {e}"))?;
    Ok(Arc::new(pc))
}

fn to_init(c: IceCandidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_mline_index,
        username_fragment: c.username_fragment,
        ..Default::default()
    }
}

/// Runs one call to its end; returns why it ended.
async fn run_call(
    ctx: CallContext,
    peer: &str,
    connection_id: &str,
    role: Role,
    mut commands: mpsc::Receiver<Command>,
) -> Result<String, String> {
    let (pc_tx, mut pc_events) = mpsc::unbounded_channel();
    let video = match &role {
        Role::Answer(offer) => vec![
            choose_for_offer(offer, &ctx.config.video_codecs)
                .ok_or_else(|| "no video codec in common with their offer".to_string())?,
        ],
        Role::Offer => ctx.config.video_codecs.clone(),
    };
    if video.is_empty() {
        return Err("no video codecs configured".into());
    }
    let level_id = Arc::new(AtomicU8::new(0));
    let pc = new_peer_connection(&ctx, peer, &video, pc_tx, level_id.clone()).await?;
    let result = negotiate_and_run(
        &ctx,
        &pc,
        peer,
        connection_id,
        role,
        &video,
        &level_id,
        &mut commands,
        &mut pc_events,
    )
    .await;
    let _ = pc.close().await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn negotiate_and_run(
    ctx: &CallContext,
    pc: &Arc<dyn PeerConnection>,
    peer: &str,
    connection_id: &str,
    role: Role,
    video: &[VideoCodec],
    level_id: &AtomicU8,
    commands: &mut mpsc::Receiver<Command>,
    pc_events: &mut mpsc::UnboundedReceiver<PcEvent>,
) -> Result<String, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let mut remote_set = false;
    let mut pending: Vec<RTCIceCandidateInit> = Vec::new();
    let is_offer = matches!(role, Role::Offer);
    if let Role::Answer(offer) = &role {
        level_id.store(
            codecs::audio_level_id(offer).unwrap_or(0),
            Ordering::Relaxed,
        );
        let offer =
            RTCSessionDescription::offer(offer.clone()).map_err(|e| fail("bad offer", &e))?;
        pc.set_remote_description(offer)
            .await
            .map_err(|e| fail("unusable offer", &e))?;
        remote_set = true;
    }
    // After the remote offer, add_track reuses its video transceiver and makes it sendrecv.
    let sending = match &ctx.video {
        Some(_) => {
            let track = send::video_track(video[0])?;
            let sender = pc
                .add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| fail("cannot add our video", &e))?;
            if is_offer {
                // The track's codec alone would make the offer list only that codec: offer
                // them all (the answer picks; the sender switches tracks to match).
                let preferences = codecs::registered_parameters(video);
                for transceiver in pc.get_transceivers().await {
                    if let Err(e) = transceiver.set_codec_preferences(preferences.clone()).await {
                        tracing::debug!("call {peer}: codec preferences: {e}");
                    }
                }
            }
            Some((track, sender, video[0]))
        }
        None => None,
    };
    // After the codec preferences above, which are for video only.
    let sending_audio = match &ctx.audio {
        Some(_) => {
            let track = send_audio::audio_track()?;
            let sender = pc
                .add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| fail("cannot add our audio", &e))?;
            Some((track, sender))
        }
        None => None,
    };
    if is_offer {
        // An offer must ask for what we want to receive: their video and audio (also
        // when we send none).
        for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
            let sends = match kind {
                RtpCodecKind::Video => sending.is_some(),
                _ => sending_audio.is_some(),
            };
            if sends {
                continue;
            }
            let init = RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                streams: Vec::new(),
                send_encodings: Vec::new(),
            };
            pc.add_transceiver_from_kind(kind, Some(init))
                .await
                .map_err(|e| fail("cannot ask for their media", &e))?;
        }
    }
    let local = if is_offer {
        pc.create_offer(None)
            .await
            .map_err(|e| fail("cannot make an offer", &e))?
    } else {
        pc.create_answer(None)
            .await
            .map_err(|e| fail("cannot make an answer", &e))?
    };
    pc.set_local_description(local)
        .await
        .map_err(|e| fail("cannot use our own description", &e))?;
    let local = pc
        .local_description()
        .await
        .ok_or_else(|| "no local description".to_string())?;
    tracing::trace!("call {peer}: our description\n{}", local.sdp);
    let mid = first_mid(&local.sdp);
    let sdp = SessionDescription {
        kind: if is_offer { "offer" } else { "answer" }.to_string(),
        sdp: local.sdp,
    };
    let metadata = ctx
        .config
        .name
        .as_ref()
        .map(|n| serde_json::json!({ "name": n }));
    let command = if is_offer {
        SignalCommand::Offer {
            peer: peer.to_string(),
            connection_id: connection_id.to_string(),
            sdp,
            metadata,
        }
    } else {
        SignalCommand::Answer {
            peer: peer.to_string(),
            connection_id: connection_id.to_string(),
            sdp,
            metadata,
        }
    };
    // Candidates gathered meanwhile wait in `pc_events`: they follow the SDP.
    ctx.signals
        .send(command)
        .await
        .map_err(|_| "signaling is gone".to_string())?;

    let sender_stop = CancellationToken::new();
    let _stop_sender = sender_stop.clone().drop_guard();
    let mut disconnected_since: Option<Instant> = None;
    loop {
        let grace = async {
            match disconnected_since {
                Some(t) => tokio::time::sleep_until((t + DISCONNECTED_GRACE).into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = grace => return Ok("the connection was lost".into()),
            command = commands.recv() => match command {
                None | Some(Command::HangUp) => return Ok("hung up".into()),
                Some(Command::RemoteAnswer(sdp)) => {
                    if !is_offer || remote_set {
                        tracing::warn!("call {peer}: unexpected answer ignored");
                        continue;
                    }
                    tracing::trace!("call {peer}: answer\n{sdp}");
                    level_id.store(codecs::audio_level_id(&sdp).unwrap_or(0), Ordering::Relaxed);
                    let answer = RTCSessionDescription::answer(sdp).map_err(|e| fail("bad answer", &e))?;
                    pc.set_remote_description(answer).await.map_err(|e| fail("unusable answer", &e))?;
                    remote_set = true;
                    for c in pending.drain(..) {
                        if let Err(e) = pc.add_ice_candidate(c).await {
                            tracing::debug!("call {peer}: candidate refused: {e}");
                        }
                    }
                }
                Some(Command::RemoteCandidate(c)) => {
                    tracing::debug!("call {peer}: remote candidate {}", c.candidate);
                    let init = to_init(c);
                    if remote_set {
                        if let Err(e) = pc.add_ice_candidate(init).await {
                            tracing::debug!("call {peer}: candidate refused: {e}");
                        }
                    } else if pending.len() < 64 {
                        pending.push(init);
                    }
                }
            },
            event = pc_events.recv() => match event {
                None => return Ok("the connection stopped".into()),
                Some(PcEvent::LocalCandidate(mut init)) => {
                    tracing::debug!("call {peer}: local candidate {}", init.candidate);
                    init.sdp_mid = Some(mid.clone());
                    init.sdp_mline_index = Some(0);
                    let command = SignalCommand::Candidate {
                        peer: peer.to_string(),
                        connection_id: connection_id.to_string(),
                        candidate: IceCandidate {
                            candidate: init.candidate,
                            sdp_mid: init.sdp_mid,
                            sdp_mline_index: init.sdp_mline_index,
                            username_fragment: None,
                        },
                    };
                    let _ = ctx.signals.send(command).await;
                }
                Some(PcEvent::State(state)) => {
                    tracing::debug!("call {peer}: {state}");
                    match state {
                        // Back from `disconnected` is not a new connection.
                        RTCPeerConnectionState::Connected if disconnected_since.take().is_none() => {
                            let _ = ctx.events.send(CallEvent::Connected {
                                peer: peer.to_string(),
                                connection_id: connection_id.to_string(),
                            }).await;
                            if let (Some(source), Some((track, sender, codec))) = (&ctx.video, &sending) {
                                tracing::debug!("call {peer}: our track was made for {codec:?}");
                                tokio::spawn(send::send_video(
                                    track.clone(),
                                    sender.clone(),
                                    source.clone(),
                                    peer.to_string(),
                                    sender_stop.clone(),
                                ));
                            }
                            if let (Some(source), Some((track, sender))) = (&ctx.audio, &sending_audio) {
                                tokio::spawn(send_audio::send_audio(
                                    track.clone(),
                                    sender.clone(),
                                    source.clone(),
                                    peer.to_string(),
                                    level_id.load(Ordering::Relaxed),
                                    sender_stop.clone(),
                                ));
                            }
                        }
                        RTCPeerConnectionState::Disconnected => {
                            disconnected_since.get_or_insert_with(Instant::now);
                        }
                        RTCPeerConnectionState::Failed => return Ok("the connection failed (ICE)".into()),
                        RTCPeerConnectionState::Closed => return Ok("the connection closed".into()),
                        _ => {}
                    }
                }
                Some(PcEvent::DataChannelClosed) => return Ok("they hung up".into()),
            },
        }
    }
}

/// The display name in a call's PeerJS metadata, if any (the caller sanitizes it).
pub fn name_from_metadata(metadata: Option<&Value>) -> Option<String> {
    metadata?
        .get("name")?
        .as_str()
        .map(str::to_string)
        .filter(|n| !n.trim().is_empty())
}
