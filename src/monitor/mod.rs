//! `packspaces monitor`: watch a space over signaling only. It registers with the
//! PeerServer (a peer id is what `join-space` announces, and it makes the members call us:
//! that is how the workshop backend, which lists nobody, tells us who was there first),
//! joins the space, and never creates a PeerConnection.
//!
//! Every incoming call is declined with a PeerJS `LEAVE` to the caller. peerjs 1.3.1 and
//! 1.5.x handle `LEAVE` by closing every connection with that peer (`_cleanupPeer`): the
//! caller's RTCPeerConnection is closed, no `stream` ever fires, nothing is logged, and
//! since the call was never answered PeerJS emits no `close` or `error` either. So the
//! workshop page, which adds a `<video>` on `stream`, shows nothing for us; our page adds a
//! tile only on a stream or a connected call, for the same result (tests/it/monitor.rs checks
//! both in Chromium). An answer without media was the alternative, but it would mean
//! forging SDP that each browser must accept, for no gain.

pub mod json;
pub mod roster;
pub mod tui;
pub mod utc;
pub mod view;

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::model::Link;
use crate::peerjs::client::{PeerClient, PeerServerUrl, RegisterError, SignalCommand, SignalEvent};
use crate::space::{self, Joiner, SpaceEvent, SpaceUrl};
use roster::{Change, Input, Roster};
use utc::Utc;

/// Where to watch.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub space: SpaceUrl,
    pub peer_server: PeerServerUrl,
}

/// Everything the screen shows; the newest value is kept in a watch channel.
#[derive(Debug, Clone)]
pub struct MonitorState {
    pub space_label: String,
    pub our_id: String,
    pub space_link: Link,
    pub peer_link: Link,
    pub roster: Roster,
    /// The latest message from a server (unsanitized; the view cleans it).
    pub notice: Option<String>,
}

/// How often held-back joins are checked (see [`roster::NAME_GRACE`]).
const TICK: Duration = Duration::from_millis(250);

/// A running monitor.
pub struct Monitor {
    pub state: watch::Receiver<MonitorState>,
    pub our_id: String,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Monitor {
    /// Registers with the PeerServer, joins the space and watches until [`Monitor::stop`].
    /// Each join and leave also goes to `changes`, when given.
    pub async fn start(
        config: MonitorConfig,
        changes: Option<mpsc::Sender<Change>>,
    ) -> Result<Monitor, RegisterError> {
        let cancel = CancellationToken::new();
        let (signal_tx, signal_rx) = mpsc::channel(256);
        let peer =
            PeerClient::register(config.peer_server.clone(), signal_tx, cancel.clone()).await?;
        let our_id = peer.id.clone();
        let (state_tx, state) = watch::channel(MonitorState {
            space_label: config.space.label(),
            our_id: our_id.clone(),
            space_link: Link::Connecting,
            peer_link: Link::Up,
            roster: Roster::default(),
            notice: None,
        });
        let (space_tx, space_rx) = mpsc::channel(64);
        // The monitor says nothing in chat: its sender goes at once.
        let (_, silent) = mpsc::channel(1);
        let joiner = Joiner {
            peer_id: our_id.clone(),
            name: None,
        };
        tokio::spawn(space::run(
            config.space,
            joiner,
            space_tx,
            silent,
            cancel.clone(),
        ));
        let runner = Runner {
            state: state_tx,
            changes,
            peer,
        };
        let task = tokio::spawn(runner.run(signal_rx, space_rx, cancel.clone()));
        Ok(Monitor {
            state,
            our_id,
            cancel,
            task,
        })
    }

    /// Leaves the space and disconnects.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
    }
}

struct Runner {
    state: watch::Sender<MonitorState>,
    changes: Option<mpsc::Sender<Change>>,
    peer: PeerClient,
}

impl Runner {
    async fn run(
        mut self,
        mut signals: mpsc::Receiver<SignalEvent>,
        mut space: mpsc::Receiver<SpaceEvent>,
        cancel: CancellationToken,
    ) {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let input = tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ticks.tick() => Some(Input::Tick),
                Some(event) = signals.recv() => self.on_signal(event).await,
                Some(event) = space.recv() => self.on_space(event),
                else => break,
            };
            if let Some(input) = input
                && !self.apply(input).await
            {
                break;
            }
        }
    }

    /// Feeds the roster; false when the consumer of changes has gone.
    async fn apply(&mut self, input: Input) -> bool {
        let mut changes = Vec::new();
        // A tick changes the roster only when it releases a join; anything else may
        // change a name or a state without a join or leave.
        let tick = input == Input::Tick;
        self.state.send_if_modified(|s| {
            changes = s.roster.apply(input, Utc::now());
            !tick || !changes.is_empty()
        });
        if let Some(tx) = &self.changes {
            for change in changes {
                if tx.send(change).await.is_err() {
                    return false;
                }
            }
        }
        true
    }

    async fn on_signal(&mut self, event: SignalEvent) -> Option<Input> {
        match event {
            SignalEvent::Offer { peer, metadata, .. } => {
                // Decline: the caller's PeerJS closes the call quietly (see the module docs).
                self.peer
                    .send(SignalCommand::Leave { peer: peer.clone() })
                    .await;
                let name = crate::peerjs::protocol::name_from_metadata(metadata.as_ref());
                return Some(Input::Called { peer, name });
            }
            // Candidates of declined calls, and answers we never asked for.
            SignalEvent::Candidate { .. } | SignalEvent::Answer { .. } => {}
            // A LEAVE or EXPIRE concerns calls, which we do not have.
            SignalEvent::Leave { .. } | SignalEvent::Expire { .. } => {}
            SignalEvent::Open { .. } => self.state.send_modify(|s| s.peer_link = Link::Up),
            SignalEvent::Disconnected { reason, .. } => {
                self.state.send_modify(|s| s.peer_link = Link::Down(reason))
            }
            SignalEvent::Error(message) => self
                .state
                .send_modify(|s| s.notice = Some(format!("PeerJS server: {message}"))),
            SignalEvent::IdTaken(message) => self
                .state
                .send_modify(|s| s.notice = Some(format!("PeerJS server: id taken: {message}"))),
        }
        None
    }

    fn on_space(&mut self, event: SpaceEvent) -> Option<Input> {
        let ours = |peer: &str| peer == self.peer.id;
        match event {
            SpaceEvent::UserConnected(peer) if !ours(&peer) => Some(Input::Connected(peer)),
            SpaceEvent::UserDisconnected(peer) if !ours(&peer) => Some(Input::Disconnected(peer)),
            SpaceEvent::Members(peers) => Some(Input::Listed(
                peers.into_iter().filter(|p| !ours(p)).collect(),
            )),
            SpaceEvent::Joined => {
                self.state.send_modify(|s| s.space_link = Link::Up);
                None
            }
            SpaceEvent::Disconnected { reason, .. } => {
                self.state
                    .send_modify(|s| s.space_link = Link::Down(reason));
                None
            }
            SpaceEvent::Refused(message) => {
                self.state
                    .send_modify(|s| s.notice = Some(format!("space server: {message}")));
                None
            }
            SpaceEvent::Names(names) => Some(Input::Named(names)),
            SpaceEvent::Chat(line) => Some(Input::Chat(line)),
            SpaceEvent::UserConnected(_) | SpaceEvent::UserDisconnected(_) => None,
        }
    }
}
