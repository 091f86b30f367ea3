//! One WebRTC call per remote peer (webrtc-rs 0.21; only this module touches it): answers
//! PeerJS offers or places calls, trickles candidates both ways (buffering remote ones until
//! the remote description is set), receives and decodes video into the frame sink, sends our
//! video, accepts peerjs 1.5.x's data channel, and ends on hang-up, ICE failure, or that data
//! channel closing.

pub mod assemble;
pub mod bitrate;
pub mod codecs;
pub mod keyframe_requests;
pub mod manager;
pub mod receive;
pub mod send;
pub mod send_audio;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngine, SettingEngineBuilder,
    register_default_interceptors,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpSender};

use crate::audio::mixer::Mixer;
use crate::audio::source::AudioSource;
use crate::feed::Feed;
pub use crate::media::outgoing::VideoSource;
use crate::peerjs::client::{IceCandidate, SessionDescription, SignalCommand};
use bitrate::WantsReceiver;
pub use codecs::VideoCodec;
use codecs::{choose_for_offer, first_mid, media_engine};
pub use manager::{CallManager, ToCall};

/// How long ICE may stay `disconnected` before we give the call up. Long enough for a link
/// that drops for ten seconds (Wi-Fi roaming, a cable moved), with room to spare on a busy
/// machine: webrtc-rs calls the link disconnected ~3 s after it drops, and once it is back
/// media flows again ~0.3 s before ICE says `connected`. With 8 s a 10 s outage left under
/// a second of that room, and a loaded run lost the call (the shaped-network suite; a 14 s
/// outage loses it every time). Browsers give up after about 30 s without consent.
const DISCONNECTED_GRACE: Duration = Duration::from_secs(20);

/// Settings shared by every call of a session.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Local UDP address for ICE, e.g. `0.0.0.0:0`, or `127.0.0.1:0` for loopback only.
    pub udp_addr: String,
    /// STUN and TURN servers (with their credentials).
    pub ice_servers: Vec<crate::ice::IceServer>,
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
    /// The call is over.
    Ended {
        peer: String,
        connection_id: String,
        reason: EndReason,
    },
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndReason {
    /// We hung up (leaving, or they left the space).
    #[error("hung up")]
    HungUp,
    /// They hung up: peerjs 1.5.x closes the call's data channel.
    #[error("they hung up")]
    TheyHungUp,
    /// ICE stayed disconnected longer than the grace period.
    #[error("the connection was lost")]
    Lost,
    /// ICE failed.
    #[error("the connection failed (ICE)")]
    Failed,
    /// The connection closed, or its events stopped.
    #[error("the connection closed")]
    Closed,
    /// The call could not be set up.
    #[error(transparent)]
    Setup(#[from] CallError),
}

/// Why a call could not be set up: the step that failed, and the library's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step}{}", if .detail.is_empty() { String::new() } else { format!(": {}", .detail) })]
pub struct CallError {
    pub step: &'static str,
    pub detail: String,
}

impl CallError {
    fn new(step: &'static str, detail: impl std::fmt::Display) -> CallError {
        CallError {
            step,
            detail: detail.to_string(),
        }
    }

    fn at<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> CallError {
        move |e| CallError::new(step, e)
    }
}

/// Everything a call needs from its session.
#[derive(Clone)]
pub struct CallContext {
    pub config: CallConfig,
    pub signals: mpsc::Sender<SignalCommand>,
    pub events: mpsc::Sender<CallEvent>,
    /// Where decoded frames and who speaks go.
    pub feed: Feed,
    pub video: Option<VideoSource>,
    /// Our outgoing sound, if we send any.
    pub audio: Option<AudioSource>,
    /// Where their audio packets go, if we play them.
    pub mixer: Option<Arc<Mutex<Mixer>>>,
    /// What each peer's tile needs, for our bitrate requests.
    pub wants: WantsReceiver,
}

/// The session's handle on one call.
pub struct CallHandle {
    pub peer: String,
    pub connection_id: String,
    messages: mpsc::Sender<ToCall>,
}

impl CallHandle {
    /// Passes a message to the call (nothing if it has ended).
    pub async fn send(&self, message: ToCall) {
        let _ = self.messages.send(message).await;
    }
}

/// A new connection id for a call we place, as PeerJS names them.
pub fn new_connection_id() -> String {
    format!("mc_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Answers `peer`'s PeerJS offer.
pub fn answer(ctx: CallContext, peer: String, connection_id: String, offer: String) -> CallHandle {
    spawn(ctx, peer, connection_id, Role::Answer(offer))
}

/// Calls `peer` (we make the offer) on `connection_id`.
pub fn call(ctx: CallContext, peer: String, connection_id: String) -> CallHandle {
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
        messages: tx,
    };
    tokio::spawn(async move {
        let events = ctx.events.clone();
        let reason = run_call(ctx, &peer, &connection_id, role, rx)
            .await
            .unwrap_or_else(EndReason::Setup);
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
    feed: Feed,
    mixer: Option<Arc<Mutex<Mixer>>>,
    /// The negotiated audio-level extension id (0 until the remote description is known).
    audio_level_id: Arc<AtomicU8>,
    wants: WantsReceiver,
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
                self.feed.clone(),
                self.mixer.clone(),
            ));
        } else {
            tokio::spawn(receive::receive_track(
                track,
                self.peer.clone(),
                self.feed.clone(),
                self.wants.clone(),
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
) -> Result<Arc<dyn PeerConnection>, CallError> {
    let mut engine = media_engine(video).map_err(|e| CallError::new("codecs", e))?;
    let registry = register_default_interceptors(Registry::new(), &mut engine)
        .map_err(CallError::at("interceptors"))?
        .with(
            keyframe_requests::SLOT.into(),
            keyframe_requests::KeyframeRequests::default(),
        );
    let ice_servers = ctx
        .config
        .ice_servers
        .iter()
        .map(|server| RTCIceServer {
            urls: vec![server.urls.clone()],
            username: server.username.clone().unwrap_or_default(),
            credential: server.credential.clone().unwrap_or_default(),
        })
        .collect();
    let handler = Handler {
        peer: peer.to_string(),
        events,
        feed: ctx.feed.clone(),
        mixer: ctx.mixer.clone(),
        audio_level_id,
        wants: ctx.wants.clone(),
    };
    let pc = PeerConnectionBuilder::new()
        .with_configuration(
            RTCConfigurationBuilder::new()
                .with_ice_servers(ice_servers)
                .build(),
        )
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings())
        .with_handler(Arc::new(handler))
        .with_udp_addrs(vec![ctx.config.udp_addr.clone()])
        .build()
        .await
        .map_err(CallError::at("cannot create a peer connection"))?;
    Ok(Arc::new(pc))
}

/// Packets a retransmission may arrive behind the newest one and still be accepted (SRTP's
/// replay window). webrtc-rs keeps 64, but a browser probing its link sends padding at
/// several hundred packets a second, so a packet resent on our NACK (100-200 ms later) can
/// come more than 64 behind and be thrown away as a replay: at 5 % loss, 31 of the 41
/// packets Firefox resent reached us with 64, 39 of 43 with this. libwebrtc keeps 1024 too.
pub const SRTP_REPLAY_WINDOW: usize = 1024;

/// webrtc-rs's settings for a call: a replay window wide enough for retransmissions
/// ([`SRTP_REPLAY_WINDOW`]), and mDNS off where this host cannot join a multicast group (no
/// default route: an isolated classroom network, a container), which would otherwise fail
/// every call with "No such device". Without mDNS a browser's `.local` candidates are not
/// resolved, but the checks it sends us still make peer-reflexive candidates that connect,
/// and our own candidates are plain addresses.
fn settings() -> SettingEngine {
    let builder =
        SettingEngineBuilder::new().with_srtp_replay_protection_window(SRTP_REPLAY_WINDOW);
    if multicast_works() {
        return builder.build();
    }
    tracing::info!("no multicast route on this host: mDNS off for calls");
    builder
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build()
}

/// Whether joining the mDNS multicast group works here (asked for each call: networks come
/// and go).
fn multicast_works() -> bool {
    let mdns_group = std::net::Ipv4Addr::new(224, 0, 0, 251);
    std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| socket.join_multicast_v4(&mdns_group, &std::net::Ipv4Addr::UNSPECIFIED))
        .is_ok()
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

/// Runs one call to its end: negotiation, then the conversation; returns why it ended.
async fn run_call(
    ctx: CallContext,
    peer: &str,
    connection_id: &str,
    role: Role,
    mut messages: mpsc::Receiver<ToCall>,
) -> Result<EndReason, CallError> {
    let (pc_tx, mut pc_events) = mpsc::unbounded_channel();
    let video = match &role {
        Role::Answer(offer) => vec![
            choose_for_offer(offer, &ctx.config.video_codecs)
                .ok_or_else(|| CallError::new("no video codec in common with their offer", ""))?,
        ],
        Role::Offer => ctx.config.video_codecs.clone(),
    };
    if video.is_empty() {
        return Err(CallError::new("no video codecs configured", ""));
    }
    let level_id = Arc::new(AtomicU8::new(0));
    let pc = new_peer_connection(&ctx, peer, &video, pc_tx, level_id.clone()).await?;
    let call = Call {
        ctx: &ctx,
        pc: &pc,
        peer,
        connection_id,
        level_id: &level_id,
    };
    let result = match call.negotiate(role, &video).await {
        Ok(negotiated) => {
            call.converse(negotiated, &mut messages, &mut pc_events)
                .await
        }
        Err(e) => Err(e),
    };
    let _ = pc.close().await;
    result
}

/// One call's connection and who it is with, for its two phases.
struct Call<'a> {
    ctx: &'a CallContext,
    pc: &'a Arc<dyn PeerConnection>,
    peer: &'a str,
    connection_id: &'a str,
    /// The negotiated audio-level extension id, shared with the audio receiver.
    level_id: &'a AtomicU8,
}

/// What negotiation leaves for the conversation.
struct Negotiated {
    is_offer: bool,
    /// Their description is set (an answerer has it from the start).
    remote_set: bool,
    /// The media id our candidates name.
    mid: String,
    video: Option<(Arc<TrackLocalStaticSample>, Arc<dyn RtpSender>, VideoCodec)>,
    audio: Option<(Arc<TrackLocalStaticSample>, Arc<dyn RtpSender>)>,
}

impl Call<'_> {
    /// Sets their offer (when answering), adds our tracks, makes our offer or answer and
    /// sends it through the PeerServer.
    async fn negotiate(&self, role: Role, video: &[VideoCodec]) -> Result<Negotiated, CallError> {
        let (pc, peer) = (self.pc, self.peer);
        let is_offer = matches!(role, Role::Offer);
        if let Role::Answer(offer) = &role {
            self.level_id.store(
                codecs::audio_level_id(offer).unwrap_or(0),
                Ordering::Relaxed,
            );
            let offer =
                RTCSessionDescription::offer(offer.clone()).map_err(CallError::at("bad offer"))?;
            pc.set_remote_description(offer)
                .await
                .map_err(CallError::at("unusable offer"))?;
        }
        // After the remote offer, add_track reuses its video transceiver and makes it
        // sendrecv.
        let sending = match &self.ctx.video {
            Some(_) => {
                let track =
                    send::video_track(video[0]).map_err(|e| CallError::new("our video", e))?;
                let sender = pc
                    .add_track(track.clone() as Arc<dyn TrackLocal>)
                    .await
                    .map_err(CallError::at("cannot add our video"))?;
                if is_offer {
                    // The track's codec alone would make the offer list only that codec:
                    // offer them all (the answer picks; the sender switches tracks to match).
                    let preferences = codecs::registered_parameters(video);
                    for transceiver in pc.get_transceivers().await {
                        if let Err(e) = transceiver.set_codec_preferences(preferences.clone()).await
                        {
                            tracing::debug!("call {peer}: codec preferences: {e}");
                        }
                    }
                }
                Some((track, sender, video[0]))
            }
            None => None,
        };
        // After the codec preferences above, which are for video only.
        let sending_audio = match &self.ctx.audio {
            Some(_) => {
                let track =
                    send_audio::audio_track().map_err(|e| CallError::new("our audio", e))?;
                let sender = pc
                    .add_track(track.clone() as Arc<dyn TrackLocal>)
                    .await
                    .map_err(CallError::at("cannot add our audio"))?;
                Some((track, sender))
            }
            None => None,
        };
        if is_offer {
            // An offer must ask for what we want to receive: their video and audio (also
            // when we send none).
            for (kind, sends) in [
                (RtpCodecKind::Video, sending.is_some()),
                (RtpCodecKind::Audio, sending_audio.is_some()),
            ] {
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
                    .map_err(CallError::at("cannot ask for their media"))?;
            }
        }
        let local = if is_offer {
            pc.create_offer(None)
                .await
                .map_err(CallError::at("cannot make an offer"))?
        } else {
            pc.create_answer(None)
                .await
                .map_err(CallError::at("cannot make an answer"))?
        };
        pc.set_local_description(local)
            .await
            .map_err(CallError::at("cannot use our own description"))?;
        let local = pc
            .local_description()
            .await
            .ok_or_else(|| CallError::new("no local description", ""))?;
        tracing::trace!("call {peer}: our description\n{}", local.sdp);
        let mid = first_mid(&local.sdp);
        // What they send us is capped by what the largest tile on our screen needs.
        let ceiling = self
            .ctx
            .wants
            .borrow()
            .ceiling
            .filter(|_| bitrate::levers().sdp);
        let sdp = SessionDescription {
            kind: if is_offer { "offer" } else { "answer" }.to_string(),
            sdp: match ceiling {
                Some(bitrate) => bitrate::with_ceiling(&local.sdp, bitrate),
                None => local.sdp,
            },
        };
        let metadata = self
            .ctx
            .config
            .name
            .as_ref()
            .map(|n| serde_json::json!({ "name": n }));
        let (peer, connection_id) = (peer.to_string(), self.connection_id.to_string());
        let command = if is_offer {
            SignalCommand::Offer {
                peer,
                connection_id,
                sdp,
                metadata,
            }
        } else {
            SignalCommand::Answer {
                peer,
                connection_id,
                sdp,
                metadata,
            }
        };
        // Candidates gathered meanwhile wait in the event channel: they follow the SDP.
        self.ctx
            .signals
            .send(command)
            .await
            .map_err(|_| CallError::new("signaling is gone", ""))?;
        Ok(Negotiated {
            is_offer,
            remote_set: !is_offer,
            mid,
            video: sending,
            audio: sending_audio,
        })
    }

    /// Trickles candidates both ways, takes their answer, starts sending once connected, and
    /// runs until the call ends.
    async fn converse(
        &self,
        mut n: Negotiated,
        messages: &mut mpsc::Receiver<ToCall>,
        pc_events: &mut mpsc::UnboundedReceiver<PcEvent>,
    ) -> Result<EndReason, CallError> {
        let (pc, peer) = (self.pc, self.peer);
        // Their candidates wait here until their description is set.
        let mut pending: Vec<RTCIceCandidateInit> = Vec::new();
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
                _ = grace => return Ok(EndReason::Lost),
                message = messages.recv() => match message {
                    None | Some(ToCall::HangUp) => return Ok(EndReason::HungUp),
                    Some(ToCall::Answer(sdp)) => {
                        if !n.is_offer || n.remote_set {
                            tracing::warn!("call {peer}: unexpected answer ignored");
                            continue;
                        }
                        tracing::trace!("call {peer}: answer\n{sdp}");
                        self.level_id.store(codecs::audio_level_id(&sdp).unwrap_or(0), Ordering::Relaxed);
                        if let Some((track, sender, codec)) = &mut n.video
                            && let Some(answered) = codecs::answered_video_codec(&sdp)
                            && answered != *codec
                        {
                            match send::retarget(track, sender.as_ref(), answered).await {
                                Ok(()) => *codec = answered,
                                Err(e) => tracing::warn!("call {peer}: our track stays {codec:?}: {e}"),
                            }
                        }
                        let answer = RTCSessionDescription::answer(sdp).map_err(CallError::at("bad answer"))?;
                        pc.set_remote_description(answer).await.map_err(CallError::at("unusable answer"))?;
                        n.remote_set = true;
                        for c in pending.drain(..) {
                            if let Err(e) = pc.add_ice_candidate(c).await {
                                tracing::debug!("call {peer}: candidate refused: {e}");
                            }
                        }
                    }
                    Some(ToCall::Candidate(c)) => {
                        tracing::debug!("call {peer}: remote candidate {}", c.candidate);
                        let init = to_init(c);
                        if n.remote_set {
                            if let Err(e) = pc.add_ice_candidate(init).await {
                                tracing::debug!("call {peer}: candidate refused: {e}");
                            }
                        } else if pending.len() < 64 {
                            pending.push(init);
                        }
                    }
                },
                event = pc_events.recv() => match event {
                    None => return Ok(EndReason::Closed),
                    Some(PcEvent::LocalCandidate(init)) => self.send_candidate(init, &n.mid).await,
                    Some(PcEvent::State(state)) => {
                        tracing::debug!("call {peer}: {state}");
                        match state {
                            // Back from `disconnected` is not a new connection.
                            RTCPeerConnectionState::Connected if disconnected_since.take().is_none() => {
                                self.connected(&n, &sender_stop).await;
                            }
                            RTCPeerConnectionState::Disconnected => {
                                disconnected_since.get_or_insert_with(Instant::now);
                            }
                            RTCPeerConnectionState::Failed => return Ok(EndReason::Failed),
                            RTCPeerConnectionState::Closed => return Ok(EndReason::Closed),
                            _ => {}
                        }
                    }
                    Some(PcEvent::DataChannelClosed) => return Ok(EndReason::TheyHungUp),
                },
            }
        }
    }

    /// One of our candidates, to them through the PeerServer.
    async fn send_candidate(&self, mut init: RTCIceCandidateInit, mid: &str) {
        tracing::debug!("call {}: local candidate {}", self.peer, init.candidate);
        init.sdp_mid = Some(mid.to_string());
        init.sdp_mline_index = Some(0);
        let command = SignalCommand::Candidate {
            peer: self.peer.to_string(),
            connection_id: self.connection_id.to_string(),
            candidate: IceCandidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
                username_fragment: None,
            },
        };
        let _ = self.ctx.signals.send(command).await;
    }

    /// The call is up: the session hears of it, and our video and sound start to flow.
    async fn connected(&self, n: &Negotiated, stop: &CancellationToken) {
        let (ctx, peer) = (self.ctx, self.peer);
        let _ = ctx
            .events
            .send(CallEvent::Connected {
                peer: peer.to_string(),
                connection_id: self.connection_id.to_string(),
            })
            .await;
        if let (Some(source), Some((track, sender, codec))) = (&ctx.video, &n.video) {
            tracing::debug!("call {peer}: our track was made for {codec:?}");
            tokio::spawn(send::send_video(
                track.clone(),
                sender.clone(),
                source.clone(),
                peer.to_string(),
                stop.clone(),
            ));
        }
        if let (Some(source), Some((track, sender))) = (&ctx.audio, &n.audio) {
            tokio::spawn(send_audio::send_audio(
                track.clone(),
                sender.clone(),
                source.clone(),
                peer.to_string(),
                self.level_id.load(Ordering::Relaxed),
                stop.clone(),
            ));
        }
    }
}
