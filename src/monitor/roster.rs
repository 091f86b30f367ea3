//! Who is in the space and since when, and the timeline of joins, leaves and chat: a pure
//! state machine fed with what the space and the PeerServer said, plus the time it
//! happened. It returns the changes to report; the runner does the I/O.
//!
//! Two backends teach it differently. `packspaces serve` lists the members on arrival
//! (`space-members`, with the names they gave it); their calls follow and carry names in
//! the PeerJS metadata, so a listed member's join is held back until its call names it, or
//! for a short grace period. The workshop backend lists nobody: members who were there
//! before us are learned from their calls (everyone already in a space calls a newcomer).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

use super::utc::Utc;
use crate::space::ChatLine;

/// Longest name kept from call metadata (the screen cuts shorter; JSON gets this much).
pub const MAX_NAME: usize = 64;
/// Timeline entries kept; older ones are dropped.
pub const MAX_TIMELINE: usize = 1000;
/// Members who left that are still listed; older ones are forgotten.
pub const MAX_LEFT: usize = 200;
/// How long a listed member's join waits for its call to name it.
pub const NAME_GRACE: Duration = Duration::from_secs(2);

/// What happened, as the runner saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The server listed who was already in the space (`space-members`).
    Listed(Vec<String>),
    /// Someone joined after us (`user-connected`).
    Connected(String),
    /// A member called us (a PeerJS OFFER), maybe with a name in its metadata.
    Called { peer: String, name: Option<String> },
    /// Someone left (`user-disconnected`).
    Disconnected(String),
    /// The space server said what members are called (before it announces them).
    Named(Vec<(String, String)>),
    /// A chat line in the space.
    Chat(ChatLine),
    /// Time passed (releases listed members whose call did not come).
    Tick,
}

/// How a member stands with us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Known from the space only.
    InSpace,
    /// Their call came (and was declined: we take no media).
    CalledUs,
    Left,
}

impl Presence {
    pub fn label(self) -> &'static str {
        match self {
            Presence::InSpace => "in space",
            Presence::CalledUs => "called us",
            Presence::Left => "left",
        }
    }
}

/// One participant, present or gone. Ids and names are as received (ids are validated
/// by the clients; names are not): sanitize before showing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub peer: String,
    pub name: Option<String>,
    /// When we learned they were there.
    pub joined: Utc,
    pub left: Option<Utc>,
    /// They were there before us.
    pub already: bool,
    pub presence: Presence,
    /// Their join has been reported (listed members wait for a name).
    announced: bool,
}

impl Member {
    pub fn is_present(&self) -> bool {
        self.presence != Presence::Left
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Join,
    Leave,
    Chat,
}

/// A join, leave or chat line to report; also a timeline entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub peer: String,
    pub name: Option<String>,
    /// What a chat line said (as sent: sanitize before showing it).
    pub text: Option<String>,
    pub time: Utc,
    /// Members known to be present after this change.
    pub count: usize,
    /// The member was there before us.
    pub already: bool,
}

/// The participants and the timeline.
#[derive(Debug, Clone)]
pub struct Roster {
    members: Vec<Member>,
    timeline: VecDeque<Change>,
    grace: Duration,
    /// Names the space server gave, for members it has not announced yet.
    names: HashMap<String, String>,
}

impl Default for Roster {
    fn default() -> Self {
        Roster::new(NAME_GRACE)
    }
}

impl Roster {
    /// `grace`: how long a listed member's join waits for its name.
    pub fn new(grace: Duration) -> Roster {
        Roster {
            members: Vec::new(),
            timeline: VecDeque::new(),
            grace,
            names: HashMap::new(),
        }
    }

    /// Everyone known, in the order we learned of them.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Joins and leaves so far, oldest first.
    pub fn timeline(&self) -> &VecDeque<Change> {
        &self.timeline
    }

    /// Members present now (including listed ones whose join is still held back).
    pub fn present(&self) -> usize {
        self.members.iter().filter(|m| m.is_present()).count()
    }

    /// Applies what happened at `now`; returns the joins and leaves to report, in order.
    pub fn apply(&mut self, input: Input, now: Utc) -> Vec<Change> {
        let mut changes = Vec::new();
        match input {
            Input::Listed(peers) => {
                for peer in peers {
                    if self.find(&peer).is_none_or(|m| !m.is_present()) {
                        self.arrive(&peer, None, true, now);
                    }
                }
            }
            Input::Connected(peer) => {
                if self.find(&peer).is_none_or(|m| !m.is_present()) {
                    self.arrive(&peer, None, false, now);
                    changes.push(self.announce(&peer, now));
                }
            }
            Input::Called { peer, name } => {
                let name = name.map(|n| n.trim().chars().take(MAX_NAME).collect::<String>());
                let name = name.filter(|n| !n.is_empty());
                match self.find_mut(&peer) {
                    Some(m) if m.is_present() => {
                        m.presence = Presence::CalledUs;
                        if name.is_some() {
                            m.name = name;
                        }
                        if !m.announced {
                            changes.push(self.announce(&peer, now));
                        }
                    }
                    // A caller we never saw join was there before us (workshop backend).
                    _ => {
                        self.arrive(&peer, name, true, now);
                        if let Some(m) = self.find_mut(&peer) {
                            m.presence = Presence::CalledUs;
                        }
                        changes.push(self.announce(&peer, now));
                    }
                }
            }
            Input::Disconnected(peer) => match self.find(&peer) {
                Some(m) if m.is_present() => {
                    if !m.announced {
                        changes.push(self.announce(&peer, now));
                    }
                    changes.push(self.depart(&peer, now));
                }
                Some(_) => {}
                // Someone we never knew of was there before us, and has gone: still a
                // leave worth reporting, though never counted.
                None => {
                    self.arrive(&peer, None, true, now);
                    changes.push(self.depart(&peer, now));
                }
            },
            Input::Named(names) => {
                for (peer, name) in names {
                    let room_for_more = self.names.len() < MAX_TIMELINE;
                    match self.find_mut(&peer) {
                        Some(m) if m.is_present() => m.name = Some(name),
                        _ if room_for_more => {
                            self.names.insert(peer, name);
                        }
                        _ => {}
                    }
                }
            }
            Input::Chat(line) => {
                let name = line
                    .name
                    .clone()
                    .or_else(|| self.find(&line.from).and_then(|m| m.name.clone()));
                let change = Change {
                    kind: ChangeKind::Chat,
                    peer: line.from,
                    name,
                    text: Some(line.text),
                    time: now,
                    count: self.announced_count(),
                    already: false,
                };
                self.keep(change.clone());
                changes.push(change);
            }
            Input::Tick => {}
        }
        // Listed members whose call did not come in time are reported without a name.
        let due: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.is_present() && !m.announced && now >= m.joined.plus(self.grace))
            .map(|m| m.peer.clone())
            .collect();
        for peer in due {
            changes.push(self.announce(&peer, now));
        }
        changes
    }

    fn find(&self, peer: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.peer == peer)
    }

    fn find_mut(&mut self, peer: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.peer == peer)
    }

    /// Adds (or re-adds, after a leave) a present member, unannounced.
    fn arrive(&mut self, peer: &str, name: Option<String>, already: bool, now: Utc) {
        self.members.retain(|m| m.peer != peer);
        let given = self.names.remove(peer);
        self.members.push(Member {
            peer: peer.to_string(),
            name: name.or(given),
            joined: now,
            left: None,
            already,
            presence: Presence::InSpace,
            announced: false,
        });
    }

    /// Reports a member's join.
    fn announce(&mut self, peer: &str, now: Utc) -> Change {
        if let Some(m) = self.find_mut(peer) {
            m.announced = true;
        }
        self.record(ChangeKind::Join, peer, now)
    }

    /// Marks a member gone and reports it.
    fn depart(&mut self, peer: &str, now: Utc) -> Change {
        if let Some(m) = self.find_mut(peer) {
            m.presence = Presence::Left;
            m.left = Some(now);
        }
        let change = self.record(ChangeKind::Leave, peer, now);
        // Forget the oldest departures beyond the cap.
        let gone = self.members.iter().filter(|m| !m.is_present()).count();
        if gone > MAX_LEFT {
            let mut extra = gone - MAX_LEFT;
            self.members.retain(|m| {
                let drop = extra > 0 && !m.is_present();
                if drop {
                    extra -= 1;
                }
                !drop
            });
        }
        change
    }

    fn record(&mut self, kind: ChangeKind, peer: &str, now: Utc) -> Change {
        let (name, already) = self
            .find(peer)
            .map(|m| (m.name.clone(), m.already))
            .unwrap_or((None, false));
        let change = Change {
            kind,
            peer: peer.to_string(),
            name,
            text: None,
            time: now,
            count: self.announced_count(),
            already,
        };
        self.keep(change.clone());
        change
    }

    /// Members present whose join was reported.
    fn announced_count(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.is_present() && m.announced)
            .count()
    }

    /// Adds an entry to the timeline, dropping the oldest beyond the cap.
    fn keep(&mut self, change: Change) {
        if self.timeline.len() == MAX_TIMELINE {
            self.timeline.pop_front();
        }
        self.timeline.push_back(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Utc {
        Utc::from_millis(1_764_243_000_000 + secs * 1000)
    }

    fn called(peer: &str, name: Option<&str>) -> Input {
        Input::Called {
            peer: peer.into(),
            name: name.map(str::to_string),
        }
    }

    /// (kind, peer, name, count, already) of each change.
    fn summary(changes: &[Change]) -> Vec<(ChangeKind, &str, Option<&str>, usize, bool)> {
        changes
            .iter()
            .map(|c| {
                (
                    c.kind,
                    c.peer.as_str(),
                    c.name.as_deref(),
                    c.count,
                    c.already,
                )
            })
            .collect()
    }

    use ChangeKind::{Join, Leave};

    #[test]
    fn joins_and_leaves_are_counted() {
        let mut r = Roster::default();
        let a = r.apply(Input::Connected("a".into()), at(1));
        let b = r.apply(Input::Connected("b".into()), at(2));
        let left = r.apply(Input::Disconnected("a".into()), at(3));
        assert_eq!(summary(&a), [(Join, "a", None, 1, false)]);
        assert_eq!(summary(&b), [(Join, "b", None, 2, false)]);
        assert_eq!(summary(&left), [(Leave, "a", None, 1, false)]);
        assert_eq!(left[0].time, at(3));
        assert_eq!(r.present(), 1);
        assert_eq!(r.timeline().len(), 3);
        let a = &r.members()[0];
        assert_eq!(
            (a.presence, a.joined, a.left),
            (Presence::Left, at(1), Some(at(3)))
        );
    }

    #[test]
    fn duplicates_report_nothing() {
        let mut r = Roster::default();
        r.apply(Input::Connected("a".into()), at(1));
        assert!(r.apply(Input::Connected("a".into()), at(2)).is_empty());
        assert!(r.apply(Input::Listed(vec!["a".into()]), at(2)).is_empty());
        r.apply(Input::Disconnected("a".into()), at(3));
        assert!(r.apply(Input::Disconnected("a".into()), at(4)).is_empty());
        assert_eq!(
            r.members()[0].joined,
            at(1),
            "a duplicate keeps the first time"
        );
        // Back again (a reconnect re-joins under the same id): a new join.
        let again = r.apply(Input::Connected("a".into()), at(5));
        assert_eq!(summary(&again), [(Join, "a", None, 1, false)]);
        assert_eq!(r.members().len(), 1);
    }

    #[test]
    fn unknown_leaves_are_reported_but_never_counted() {
        let mut r = Roster::default();
        r.apply(Input::Connected("a".into()), at(1));
        let gone = r.apply(Input::Disconnected("ghost".into()), at(2));
        assert_eq!(summary(&gone), [(Leave, "ghost", None, 1, true)]);
        assert_eq!(r.present(), 1);
        assert_eq!(r.members()[1].presence, Presence::Left);
    }

    #[test]
    fn callers_we_never_saw_join_were_there_before_us_with_their_names() {
        // The workshop backend lists nobody: members call the newcomer.
        let mut r = Roster::default();
        let ada = r.apply(called("ada-id", Some("  Ada ")), at(1));
        assert_eq!(summary(&ada), [(Join, "ada-id", Some("Ada"), 1, true)]);
        assert_eq!(r.members()[0].presence, Presence::CalledUs);
        let anon = r.apply(called("anon", Some("   ")), at(2));
        assert_eq!(summary(&anon), [(Join, "anon", None, 2, true)]);
        // A second call (they reconnected) changes nothing in the timeline.
        assert!(r.apply(called("ada-id", Some("Ada")), at(3)).is_empty());
        let long = "x".repeat(MAX_NAME + 10);
        r.apply(called("long", Some(&long)), at(4));
        assert_eq!(r.members()[2].name.as_ref().unwrap().len(), MAX_NAME);
    }

    #[test]
    fn listed_members_wait_briefly_for_the_call_that_names_them() {
        let mut r = Roster::new(Duration::from_secs(2));
        assert!(
            r.apply(Input::Listed(vec!["a".into(), "b".into()]), at(10))
                .is_empty()
        );
        assert_eq!(r.present(), 2);
        let a = r.apply(called("a", Some("Ada")), at(11));
        assert_eq!(summary(&a), [(Join, "a", Some("Ada"), 1, true)]);
        assert_eq!(a[0].time, at(11));
        assert!(r.apply(Input::Tick, at(11)).is_empty());
        // b never calls (another monitor): reported unnamed once the grace is over.
        let b = r.apply(Input::Tick, at(12));
        assert_eq!(summary(&b), [(Join, "b", None, 2, true)]);
        assert!(r.apply(Input::Tick, at(13)).is_empty());
        // A name that arrives later still lands in the participant list.
        r.apply(called("b", Some("Bea")), at(14));
        assert_eq!(r.members()[1].name.as_deref(), Some("Bea"));
        assert_eq!(r.members()[1].presence, Presence::CalledUs);
    }

    #[test]
    fn a_listed_member_who_leaves_unannounced_joins_then_leaves() {
        let mut r = Roster::default();
        r.apply(Input::Listed(vec!["a".into()]), at(1));
        let changes = r.apply(Input::Disconnected("a".into()), at(1));
        assert_eq!(
            summary(&changes),
            [(Join, "a", None, 1, true), (Leave, "a", None, 0, true)]
        );
    }

    #[test]
    fn history_is_bounded() {
        let mut r = Roster::default();
        let n = MAX_TIMELINE;
        for i in 0..n {
            let peer = format!("p{i}");
            r.apply(Input::Connected(peer.clone()), at(i as u64));
            r.apply(Input::Disconnected(peer), at(i as u64));
        }
        r.apply(Input::Connected("stays".into()), at(9999));
        assert_eq!(r.members().len(), MAX_LEFT + 1);
        assert_eq!(
            r.members()[0].peer,
            format!("p{}", n - MAX_LEFT),
            "the oldest departures go first"
        );
        assert_eq!(r.timeline().len(), MAX_TIMELINE);
        assert_eq!(r.timeline().back().unwrap().peer, "stays");
    }
}
