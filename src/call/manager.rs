//! Who calls whom, and which call each signaling message belongs to: the session's rules
//! without I/O, the way `server::peerserver::Realm` and `monitor::roster` work. The session
//! feeds [`CallManager::handle`] what the PeerServer, the space and the running calls say,
//! with the time, and carries out what comes back: start a call, pass a message to a running
//! one, change what the screen shows about a peer. It must not import webrtc, tokio or the
//! terminal; its unit tests run two or three managers against each other in one process.
//!
//! The rules:
//! - Everyone already in a space calls a newcomer (`user-connected`); the newcomer calls no
//!   one (it learns the members, who call it).
//! - An offer from someone we already have a call with replaces that call (they
//!   reconnected) — except in glare: both sides offered at once and neither is connected
//!   yet. Then the peer with the greater id keeps its own offer and ignores the other, and
//!   the other answers it, so exactly one call remains on both sides.
//! - Candidates that arrive before their call (trickle races the offer through the server)
//!   wait, bounded and for at most [`EARLY_CANDIDATE_TTL`], and follow the call when it
//!   starts.
//! - A peer that leaves the space or the PeerServer is hung up on and its tile removed; one
//!   the server cannot reach (EXPIRE) stays, marked unreachable.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{CallEvent, EndReason};
use crate::model::{Link, TileState};
use crate::peerjs::client::{IceCandidate, SignalEvent};
use crate::peerjs::protocol::name_from_metadata;
use crate::space::SpaceEvent;

/// How long candidates may wait for the call they belong to.
pub const EARLY_CANDIDATE_TTL: Duration = Duration::from_secs(30);
/// Connections with waiting candidates, and candidates per connection, at most (the
/// excess is dropped).
const MAX_EARLY_CONNECTIONS: usize = 64;
pub const MAX_EARLY_CANDIDATES: usize = 32;

/// What the manager is told.
#[derive(Debug, Clone)]
pub enum Input {
    Signal(SignalEvent),
    Space(SpaceEvent),
    Call(CallEvent),
    /// We are leaving: hang up every call.
    Stop,
}

/// What the session must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Answer `peer`'s offer on their `connection_id`.
    Answer {
        peer: String,
        connection_id: String,
        offer: String,
    },
    /// Call `peer` on our new `connection_id`.
    Call { peer: String, connection_id: String },
    /// Pass a message to the running call `connection_id` with `peer`.
    ToCall {
        peer: String,
        connection_id: String,
        message: ToCall,
    },
    /// What the screen shows changed.
    Show(Show),
}

/// A message for a running call.
#[derive(Debug, Clone, PartialEq)]
pub enum ToCall {
    /// Their answer to our offer.
    Answer(String),
    Candidate(IceCandidate),
    HangUp,
}

/// A change to what the screen shows about peers and links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Show {
    /// A tile for `peer` (new, or already there) in `state`.
    Tile {
        peer: String,
        state: TileState,
    },
    /// `peer`'s display name, if it has a tile (unsanitized: the model cleans it).
    Name {
        peer: String,
        name: String,
    },
    /// `peer`'s call is up: its tile is live (a picture that is already there stays).
    Connected {
        peer: String,
    },
    /// `peer`'s call is over: the tile stays, without a picture, in `state`.
    Ended {
        peer: String,
        state: TileState,
    },
    /// The tile, if any, is marked unreachable.
    Unreachable {
        peer: String,
    },
    /// `peer` is gone: its tile goes.
    Gone {
        peer: String,
    },
    Notice(String),
    PeerServer(Link),
    Space(Link),
}

/// One call, as the manager tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    connection_id: String,
    /// We placed it (our offer).
    outgoing: bool,
    connected: bool,
}

/// Candidates waiting for their call.
struct Early {
    since: Instant,
    candidates: Vec<IceCandidate>,
}

/// The rules of one session's calls (see the module's docs).
pub struct CallManager {
    our_id: String,
    /// One call per peer, by peer id.
    calls: HashMap<String, Call>,
    /// By connection id.
    early: HashMap<String, Early>,
    new_connection_id: Box<dyn FnMut() -> String + Send>,
}

impl CallManager {
    /// A manager for the session whose peer id is `our_id`; `new_connection_id` names the
    /// calls we place (`super::new_connection_id` in a session, a counter in tests).
    pub fn new(
        our_id: &str,
        new_connection_id: impl FnMut() -> String + Send + 'static,
    ) -> CallManager {
        CallManager {
            our_id: our_id.to_string(),
            calls: HashMap::new(),
            early: HashMap::new(),
            new_connection_id: Box::new(new_connection_id),
        }
    }

    /// The call with `peer`, if any: its connection id.
    pub fn call_with(&self, peer: &str) -> Option<&str> {
        self.calls.get(peer).map(|c| c.connection_id.as_str())
    }

    /// Number of calls (in any state).
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Takes in one event at `now`; returns what to do, in order.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Output> {
        self.early
            .retain(|_, e| now.saturating_duration_since(e.since) < EARLY_CANDIDATE_TTL);
        let mut out = Vec::new();
        match input {
            Input::Signal(event) => self.on_signal(event, now, &mut out),
            Input::Space(event) => self.on_space(event, &mut out),
            Input::Call(event) => self.on_call(event, &mut out),
            Input::Stop => {
                let peers: Vec<String> = self.calls.keys().cloned().collect();
                for peer in peers {
                    self.hang_up(&peer, &mut out);
                }
            }
        }
        out
    }

    fn hang_up(&mut self, peer: &str, out: &mut Vec<Output>) {
        if let Some(call) = self.calls.remove(peer) {
            out.push(Output::ToCall {
                peer: peer.to_string(),
                connection_id: call.connection_id,
                message: ToCall::HangUp,
            });
        }
    }

    /// The call with `peer` if it is the one on `connection_id`.
    fn call_on(&self, peer: &str, connection_id: &str) -> Option<&Call> {
        self.calls
            .get(peer)
            .filter(|c| c.connection_id == connection_id)
    }

    fn on_signal(&mut self, event: SignalEvent, now: Instant, out: &mut Vec<Output>) {
        let show = |out: &mut Vec<Output>, s: Show| out.push(Output::Show(s));
        match event {
            SignalEvent::Open { .. } => show(out, Show::PeerServer(Link::Up)),
            SignalEvent::Offer {
                peer,
                connection_id,
                sdp,
                metadata,
            } => {
                if let Some(ours) = self.calls.get(&peer)
                    && ours.outgoing
                    && !ours.connected
                    && self.our_id > peer
                {
                    // Glare: we keep ours; they answer it (they have the smaller id).
                    tracing::info!("{peer} called while our call to them is under way: ours wins");
                    return;
                }
                self.hang_up(&peer, out);
                show(
                    out,
                    Show::Tile {
                        peer: peer.clone(),
                        state: TileState::Connecting,
                    },
                );
                if let Some(name) = name_from_metadata(metadata.as_ref()) {
                    show(
                        out,
                        Show::Name {
                            peer: peer.clone(),
                            name,
                        },
                    );
                }
                out.push(Output::Answer {
                    peer: peer.clone(),
                    connection_id: connection_id.clone(),
                    offer: sdp.sdp,
                });
                for candidate in self
                    .early
                    .remove(&connection_id)
                    .map(|e| e.candidates)
                    .unwrap_or_default()
                {
                    out.push(Output::ToCall {
                        peer: peer.clone(),
                        connection_id: connection_id.clone(),
                        message: ToCall::Candidate(candidate),
                    });
                }
                self.calls.insert(
                    peer,
                    Call {
                        connection_id,
                        outgoing: false,
                        connected: false,
                    },
                );
            }
            SignalEvent::Answer {
                peer,
                connection_id,
                sdp,
                metadata,
            } => {
                if !self
                    .call_on(&peer, &connection_id)
                    .is_some_and(|c| c.outgoing)
                {
                    tracing::info!("answer from {peer} for an unknown call ignored");
                    return;
                }
                out.push(Output::ToCall {
                    peer: peer.clone(),
                    connection_id,
                    message: ToCall::Answer(sdp.sdp),
                });
                // Other packspaces clients name themselves in their answers.
                if let Some(name) = name_from_metadata(metadata.as_ref()) {
                    show(out, Show::Name { peer, name });
                }
            }
            SignalEvent::Candidate {
                peer,
                connection_id,
                candidate,
            } => {
                if self.call_on(&peer, &connection_id).is_some() {
                    out.push(Output::ToCall {
                        peer,
                        connection_id,
                        message: ToCall::Candidate(candidate),
                    });
                } else if self.early.len() < MAX_EARLY_CONNECTIONS
                    || self.early.contains_key(&connection_id)
                {
                    let early = self.early.entry(connection_id).or_insert_with(|| Early {
                        since: now,
                        candidates: Vec::new(),
                    });
                    if early.candidates.len() < MAX_EARLY_CANDIDATES {
                        early.candidates.push(candidate);
                    }
                }
            }
            SignalEvent::Leave { peer } => {
                self.hang_up(&peer, out);
                show(out, Show::Gone { peer });
            }
            SignalEvent::Expire { peer } => {
                self.hang_up(&peer, out);
                show(out, Show::Unreachable { peer: peer.clone() });
                show(
                    out,
                    Show::Notice(format!("{peer} is not connected to the PeerJS server")),
                );
            }
            SignalEvent::Error(message) => {
                show(out, Show::Notice(format!("PeerJS server: {message}")))
            }
            SignalEvent::IdTaken(message) => show(
                out,
                Show::Notice(format!("PeerJS server: id taken: {message}")),
            ),
            SignalEvent::Disconnected { reason, .. } => {
                show(out, Show::PeerServer(Link::Down(reason)))
            }
        }
    }

    fn on_space(&mut self, event: SpaceEvent, out: &mut Vec<Output>) {
        let show = |out: &mut Vec<Output>, s: Show| out.push(Output::Show(s));
        match event {
            SpaceEvent::Joined => show(out, Show::Space(Link::Up)),
            SpaceEvent::UserConnected(peer) => {
                if peer == self.our_id || self.calls.contains_key(&peer) {
                    return;
                }
                show(
                    out,
                    Show::Tile {
                        peer: peer.clone(),
                        state: TileState::Connecting,
                    },
                );
                let connection_id = (self.new_connection_id)();
                out.push(Output::Call {
                    peer: peer.clone(),
                    connection_id: connection_id.clone(),
                });
                self.calls.insert(
                    peer,
                    Call {
                        connection_id,
                        outgoing: true,
                        connected: false,
                    },
                );
            }
            SpaceEvent::UserDisconnected(peer) => {
                self.hang_up(&peer, out);
                show(out, Show::Gone { peer });
            }
            // Members call us, and their tile comes with the call. One that never calls (a
            // `packspaces monitor` takes no calls and places none) must leave no tile
            // stuck at "connecting".
            SpaceEvent::Members(peers) => {
                tracing::debug!("space: {} members before us", peers.len());
            }
            // Names and chat are the session's to show; no call depends on them.
            SpaceEvent::Names(_) | SpaceEvent::Chat(_) => {}
            SpaceEvent::Refused(message) => {
                show(out, Show::Notice(format!("space server: {message}")))
            }
            SpaceEvent::Disconnected { reason, .. } => show(out, Show::Space(Link::Down(reason))),
        }
    }

    fn on_call(&mut self, event: CallEvent, out: &mut Vec<Output>) {
        match event {
            CallEvent::Connected {
                peer,
                connection_id,
            } => {
                if let Some(call) = self
                    .calls
                    .get_mut(&peer)
                    .filter(|c| c.connection_id == connection_id)
                {
                    call.connected = true;
                    out.push(Output::Show(Show::Connected { peer }));
                }
            }
            CallEvent::Ended {
                peer,
                connection_id,
                reason,
            } => {
                if self.call_on(&peer, &connection_id).is_none() {
                    return;
                }
                self.calls.remove(&peer);
                let state = if reason.unreachable() {
                    TileState::Unreachable
                } else {
                    TileState::NoVideo
                };
                out.push(Output::Show(Show::Ended { peer, state }));
            }
        }
    }
}

/// Why a call ended.
impl EndReason {
    /// True when the network, not a person, ended it: the peer is shown as unreachable.
    pub fn unreachable(&self) -> bool {
        matches!(self, EndReason::Lost | EndReason::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peerjs::client::SessionDescription;

    /// A few managers in one space, with the PeerServer, the space server and the calls'
    /// WebRTC played by the test: an offer or answer is a string naming its call, and a call
    /// connects once its offerer has the answer.
    struct Space {
        now: Instant,
        members: Vec<(String, CallManager)>,
        /// Everything each member was told to show, in order.
        shown: HashMap<String, Vec<Show>>,
        /// Running calls per member: (peer, connection id).
        running: HashMap<String, Vec<(String, String)>>,
        /// Candidates each member's calls passed on: (connection id, candidate).
        candidates: HashMap<String, Vec<(String, String)>>,
        /// Signaling in flight: (to, event).
        wire: Vec<(String, SignalEvent)>,
        /// Call events in flight: (to, event).
        call_events: Vec<(String, CallEvent)>,
    }

    fn sdp(kind: &str, text: String) -> SessionDescription {
        SessionDescription {
            kind: kind.into(),
            sdp: text,
        }
    }

    fn candidate(text: &str) -> IceCandidate {
        IceCandidate {
            candidate: text.into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        }
    }

    impl Space {
        fn new(ids: &[&str]) -> Space {
            let members = ids
                .iter()
                .map(|id| {
                    let prefix = format!("mc_{id}_");
                    let mut n = 0;
                    let manager = CallManager::new(id, move || {
                        n += 1;
                        format!("{prefix}{n}")
                    });
                    (id.to_string(), manager)
                })
                .collect();
            Space {
                now: Instant::now(),
                members,
                shown: HashMap::new(),
                running: HashMap::new(),
                candidates: HashMap::new(),
                wire: Vec::new(),
                call_events: Vec::new(),
            }
        }

        fn manager(&mut self, id: &str) -> &mut CallManager {
            &mut self.members.iter_mut().find(|(m, _)| m == id).unwrap().1
        }

        /// Tells `id` something and carries out what it says to do.
        fn tell(&mut self, id: &str, input: Input) {
            let now = self.now;
            let outputs = self.manager(id).handle(input, now);
            for output in outputs {
                self.carry_out(id, output);
            }
        }

        fn carry_out(&mut self, id: &str, output: Output) {
            match output {
                Output::Show(s) => self.shown.entry(id.to_string()).or_default().push(s),
                Output::Call {
                    peer,
                    connection_id,
                } => {
                    self.running_mut(id)
                        .push((peer.clone(), connection_id.clone()));
                    self.wire.push((
                        peer,
                        SignalEvent::Offer {
                            peer: id.to_string(),
                            connection_id: connection_id.clone(),
                            sdp: sdp("offer", format!("offer {connection_id}")),
                            metadata: Some(serde_json::json!({ "name": format!("name of {id}") })),
                        },
                    ));
                }
                Output::Answer {
                    peer,
                    connection_id,
                    offer,
                } => {
                    assert_eq!(offer, format!("offer {connection_id}"));
                    self.running_mut(id)
                        .push((peer.clone(), connection_id.clone()));
                    self.wire.push((
                        peer,
                        SignalEvent::Answer {
                            peer: id.to_string(),
                            connection_id,
                            sdp: sdp("answer", format!("answer from {id}")),
                            metadata: None,
                        },
                    ));
                }
                Output::ToCall {
                    peer,
                    connection_id,
                    message,
                } => {
                    assert!(
                        self.is_running(id, &connection_id),
                        "{id} passed {message:?} to a call it does not run: {connection_id}"
                    );
                    match message {
                        ToCall::HangUp => self.running_mut(id).retain(|c| c.1 != connection_id),
                        ToCall::Candidate(c) => self
                            .candidates
                            .entry(id.to_string())
                            .or_default()
                            .push((connection_id, c.candidate)),
                        ToCall::Answer(answer) => {
                            // The offerer has the answer: both ends connect, if the
                            // answerer still runs that call.
                            let answerer = answer
                                .strip_prefix("answer from ")
                                .expect("an answer the test made")
                                .to_string();
                            assert_eq!(answerer, peer);
                            if self.is_running(&answerer, &connection_id) {
                                for (who, other) in
                                    [(id, answerer.as_str()), (answerer.as_str(), id)]
                                {
                                    self.call_events.push((
                                        who.to_string(),
                                        CallEvent::Connected {
                                            peer: other.to_string(),
                                            connection_id: connection_id.clone(),
                                        },
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }

        fn running_mut(&mut self, id: &str) -> &mut Vec<(String, String)> {
            self.running.entry(id.to_string()).or_default()
        }

        fn is_running(&self, id: &str, connection_id: &str) -> bool {
            self.running
                .get(id)
                .is_some_and(|r| r.iter().any(|c| c.1 == connection_id))
        }

        /// Delivers everything in flight until nothing is.
        fn settle(&mut self) {
            for _ in 0..100 {
                if self.wire.is_empty() && self.call_events.is_empty() {
                    return;
                }
                for (to, event) in std::mem::take(&mut self.wire) {
                    self.tell(&to, Input::Signal(event));
                }
                for (to, event) in std::mem::take(&mut self.call_events) {
                    self.tell(&to, Input::Call(event));
                }
            }
            panic!("signaling never settled");
        }

        /// `id` joins: the members already there hear of it and call; it learns them.
        fn join(&mut self, id: &str) {
            let others: Vec<String> = self
                .members
                .iter()
                .map(|(m, _)| m.clone())
                .filter(|m| m != id && self.shown.contains_key(m))
                .collect();
            self.tell(id, Input::Space(SpaceEvent::Joined));
            self.tell(id, Input::Space(SpaceEvent::Members(others.clone())));
            for other in others {
                self.tell(&other, Input::Space(SpaceEvent::UserConnected(id.into())));
            }
        }

        fn connected_calls(&self, id: &str) -> Vec<String> {
            let mut peers: Vec<String> = self.shown[id]
                .iter()
                .filter_map(|s| match s {
                    Show::Connected { peer } => Some(peer.clone()),
                    _ => None,
                })
                .collect();
            peers.sort();
            peers
        }

        fn running(&self, id: &str) -> Vec<(String, String)> {
            let mut r = self.running.get(id).cloned().unwrap_or_default();
            r.sort();
            r
        }
    }

    #[test]
    fn members_call_a_newcomer_and_every_pair_ends_with_one_call() {
        let mut space = Space::new(&["a", "b", "c"]);
        for id in ["a", "b", "c"] {
            space.join(id);
            space.settle();
        }
        assert_eq!(space.connected_calls("a"), ["b", "c"]);
        assert_eq!(space.connected_calls("b"), ["a", "c"]);
        assert_eq!(space.connected_calls("c"), ["a", "b"]);
        // The newcomer placed no call: c's calls are the ones a and b placed.
        assert_eq!(
            space.running("c"),
            [
                ("a".to_string(), "mc_a_2".to_string()),
                ("b".to_string(), "mc_b_1".to_string())
            ]
        );
        // Names come with the offers.
        assert!(space.shown["c"].contains(&Show::Name {
            peer: "a".into(),
            name: "name of a".into()
        }));
        for id in ["a", "b", "c"] {
            assert_eq!(space.manager(id).calls(), 2, "{id}");
        }
    }

    #[test]
    fn in_glare_the_greater_id_keeps_its_offer_in_either_delivery_order() {
        for a_first in [true, false] {
            let mut space = Space::new(&["a", "b"]);
            space.tell("a", Input::Space(SpaceEvent::Joined));
            space.tell("b", Input::Space(SpaceEvent::Joined));
            // Both hear of each other (a space server that restarted announces everyone).
            space.tell("a", Input::Space(SpaceEvent::UserConnected("b".into())));
            space.tell("b", Input::Space(SpaceEvent::UserConnected("a".into())));
            if !a_first {
                space.wire.reverse();
            }
            space.settle();
            assert_eq!(space.connected_calls("a"), ["b"], "a_first {a_first}");
            assert_eq!(space.connected_calls("b"), ["a"], "a_first {a_first}");
            // One call on both sides: b's (the greater id).
            assert_eq!(space.running("a"), [("b".into(), "mc_b_1".into())]);
            assert_eq!(space.running("b"), [("a".into(), "mc_b_1".into())]);
        }
    }

    #[test]
    fn a_new_offer_replaces_a_connected_call() {
        let mut space = Space::new(&["a", "b"]);
        space.join("a");
        space.join("b");
        space.settle();
        assert_eq!(space.running("b"), [("a".into(), "mc_a_1".into())]);
        // a restarted its call (say, after a network change): a new offer, same peer.
        space.tell("a", Input::Stop);
        space.tell("a", Input::Space(SpaceEvent::UserConnected("b".into())));
        space.settle();
        assert_eq!(space.running("b"), [("a".into(), "mc_a_2".into())]);
        assert_eq!(space.running("a"), [("b".into(), "mc_a_2".into())]);
        assert_eq!(space.connected_calls("b"), ["a", "a"]);
    }

    #[test]
    fn candidates_before_their_offer_follow_the_call_and_stale_ones_expire() {
        let mut space = Space::new(&["a", "b"]);
        space.join("a");
        let trickled = |conn: &str, text: &str| SignalEvent::Candidate {
            peer: "b".into(),
            connection_id: conn.into(),
            candidate: candidate(text),
        };
        // Two candidates overtake b's offer, and one belongs to a call that never comes.
        space.tell("a", Input::Signal(trickled("mc_b_1", "cand 1")));
        space.tell("a", Input::Signal(trickled("mc_b_1", "cand 2")));
        space.tell("a", Input::Signal(trickled("mc_b_9", "stray")));
        space.now += Duration::from_secs(5);
        // b calls a (played by hand: b heard of a).
        space.tell("b", Input::Space(SpaceEvent::Joined));
        space.tell("b", Input::Space(SpaceEvent::UserConnected("a".into())));
        space.settle();
        assert_eq!(space.connected_calls("a"), ["b"]);
        assert_eq!(
            space.candidates["a"],
            [
                ("mc_b_1".to_string(), "cand 1".to_string()),
                ("mc_b_1".to_string(), "cand 2".to_string())
            ]
        );
        assert!(space.manager("a").early.contains_key("mc_b_9"));
        // The stray one is dropped once it is older than the TTL.
        space.now += EARLY_CANDIDATE_TTL;
        space.tell("a", Input::Space(SpaceEvent::Members(Vec::new())));
        assert!(space.manager("a").early.is_empty());
    }

    #[test]
    fn early_candidates_within_the_ttl_are_passed_on_right_after_the_answer() {
        let mut space = Space::new(&["a", "b"]);
        let now = space.now;
        let outputs = space.manager("a").handle(
            Input::Signal(SignalEvent::Candidate {
                peer: "b".into(),
                connection_id: "mc_x".into(),
                candidate: candidate("early"),
            }),
            now,
        );
        assert!(outputs.is_empty());
        let outputs = space.manager("a").handle(
            Input::Signal(SignalEvent::Offer {
                peer: "b".into(),
                connection_id: "mc_x".into(),
                sdp: sdp("offer", "offer mc_x".into()),
                metadata: None,
            }),
            now + Duration::from_secs(2),
        );
        let kinds: Vec<&str> = outputs
            .iter()
            .map(|o| match o {
                Output::Show(Show::Tile { .. }) => "tile",
                Output::Answer { .. } => "answer",
                Output::ToCall {
                    message: ToCall::Candidate(_),
                    ..
                } => "candidate",
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(kinds, ["tile", "answer", "candidate"]);
    }

    #[test]
    fn past_the_cap_early_candidates_are_dropped_and_the_call_goes_on() {
        let mut space = Space::new(&["a", "b"]);
        space.join("a");
        let trickled = |text: String| {
            Input::Signal(SignalEvent::Candidate {
                peer: "b".into(),
                connection_id: "mc_b_1".into(),
                candidate: candidate(&text),
            })
        };
        // More candidates than the cap overtake b's offer.
        for n in 0..MAX_EARLY_CANDIDATES + 8 {
            space.tell("a", trickled(format!("early {n}")));
        }
        assert_eq!(
            space.manager("a").early["mc_b_1"].candidates.len(),
            MAX_EARLY_CANDIDATES
        );
        space.tell("b", Input::Space(SpaceEvent::Joined));
        space.tell("b", Input::Space(SpaceEvent::UserConnected("a".into())));
        space.settle();
        // The call is answered and connects; the first MAX_EARLY_CANDIDATES follow it, in
        // order, the rest were dropped.
        assert_eq!(space.connected_calls("a"), ["b"]);
        assert_eq!(space.connected_calls("b"), ["a"]);
        let passed: Vec<String> = space.candidates["a"]
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        let first: Vec<String> = (0..MAX_EARLY_CANDIDATES)
            .map(|n| format!("early {n}"))
            .collect();
        assert_eq!(passed, first);
        assert!(space.manager("a").early.is_empty());
        // Candidates for the running call are not early: no cap.
        for n in 0..MAX_EARLY_CANDIDATES + 8 {
            space.tell("a", trickled(format!("late {n}")));
        }
        assert_eq!(space.candidates["a"].len(), 2 * MAX_EARLY_CANDIDATES + 8);
    }

    #[test]
    fn early_candidates_are_bounded() {
        let mut manager = CallManager::new("a", || "mc".into());
        let now = Instant::now();
        for conn in 0..200 {
            for n in 0..100 {
                manager.handle(
                    Input::Signal(SignalEvent::Candidate {
                        peer: "b".into(),
                        connection_id: format!("c{conn}"),
                        candidate: candidate(&format!("{n}")),
                    }),
                    now,
                );
            }
        }
        assert_eq!(manager.early.len(), MAX_EARLY_CONNECTIONS);
        assert!(
            manager
                .early
                .values()
                .all(|e| e.candidates.len() == MAX_EARLY_CANDIDATES)
        );
    }

    #[test]
    fn a_peer_that_vanishes_is_hung_up_on_and_its_tile_goes_or_is_marked() {
        let mut space = Space::new(&["a", "b", "c"]);
        for id in ["a", "b", "c"] {
            space.join(id);
            space.settle();
        }
        // b leaves the space: a and c hang up and remove its tile.
        space.tell("a", Input::Space(SpaceEvent::UserDisconnected("b".into())));
        space.tell("c", Input::Signal(SignalEvent::Leave { peer: "b".into() }));
        for id in ["a", "c"] {
            assert!(space.running(id).iter().all(|(p, _)| p != "b"), "{id}");
            assert_eq!(
                space.shown[id].last(),
                Some(&Show::Gone { peer: "b".into() })
            );
            assert!(space.manager(id).call_with("b").is_none());
        }
        // The server cannot reach c any more: a hangs up, the tile stays unreachable.
        space.tell("a", Input::Signal(SignalEvent::Expire { peer: "c".into() }));
        assert!(space.running("a").is_empty());
        assert!(space.shown["a"].contains(&Show::Unreachable { peer: "c".into() }));
        // A late end report of a call already hung up changes nothing.
        let before = space.shown["a"].len();
        space.tell(
            "a",
            Input::Call(CallEvent::Ended {
                peer: "c".into(),
                connection_id: "mc_a_2".into(),
                reason: EndReason::HungUp,
            }),
        );
        assert_eq!(space.shown["a"].len(), before);
    }

    #[test]
    fn how_a_call_ended_decides_the_tile() {
        for (reason, state) in [
            (EndReason::Failed, TileState::Unreachable),
            (EndReason::Lost, TileState::Unreachable),
            (EndReason::TheyHungUp, TileState::NoVideo),
            (EndReason::Closed, TileState::NoVideo),
        ] {
            let mut space = Space::new(&["a", "b"]);
            space.join("a");
            space.join("b");
            space.settle();
            space.tell(
                "a",
                Input::Call(CallEvent::Ended {
                    peer: "b".into(),
                    connection_id: "mc_a_1".into(),
                    reason: reason.clone(),
                }),
            );
            assert_eq!(
                space.shown["a"].last(),
                Some(&Show::Ended {
                    peer: "b".into(),
                    state
                }),
                "{reason}"
            );
            // The peer can call again.
            space.tell("a", Input::Space(SpaceEvent::UserConnected("b".into())));
            assert_eq!(space.manager("a").call_with("b"), Some("mc_a_2"));
        }
    }

    #[test]
    fn answers_and_candidates_for_other_calls_are_ignored() {
        let mut space = Space::new(&["a", "b"]);
        space.join("a");
        space.join("b");
        space.settle();
        let before = space.shown["a"].len();
        let now = space.now;
        // An answer for a call a never placed, and one from someone else.
        for (peer, conn) in [("b", "mc_zz"), ("c", "mc_a_1")] {
            let outputs = space.manager("a").handle(
                Input::Signal(SignalEvent::Answer {
                    peer: peer.into(),
                    connection_id: conn.into(),
                    sdp: sdp("answer", "x".into()),
                    metadata: None,
                }),
                now,
            );
            assert!(outputs.is_empty(), "{outputs:?}");
        }
        // An answer to a call b placed to us (we are the answerer there) is not ours to use.
        let outputs = space.manager("b").handle(
            Input::Signal(SignalEvent::Answer {
                peer: "a".into(),
                connection_id: "mc_a_1".into(),
                sdp: sdp("answer", "x".into()),
                metadata: None,
            }),
            now,
        );
        assert!(outputs.is_empty(), "{outputs:?}");
        assert_eq!(space.shown["a"].len(), before);
    }

    #[test]
    fn we_never_call_ourselves_and_stop_hangs_up_everything() {
        let mut space = Space::new(&["a", "b", "c"]);
        space.tell("a", Input::Space(SpaceEvent::UserConnected("a".into())));
        assert_eq!(space.manager("a").calls(), 0);
        for id in ["a", "b", "c"] {
            space.join(id);
            space.settle();
        }
        space.tell("a", Input::Stop);
        assert!(space.running("a").is_empty());
        assert_eq!(space.manager("a").calls(), 0);
    }
}
