//! Spaces cluster-wide: who is in which space (a newcomer's `space-members`), each
//! instance's lease, the reaper that announces a dead instance's members as gone, and the
//! rewrite of an instance's own members after Redis comes back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Value;

use super::scripts::{self, DEL_IF_OWNER, HDEL_IF};
use super::{Cluster, keys};

/// An instance whose lease is older than this is dead.
const LEASE: Duration = Duration::from_secs(5);
/// How often the lease is renewed and dead instances are looked for. With the lease, a
/// dead instance's members are announced gone 5-7 s after it died.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// After Redis comes back, the others need a refresh to renew their leases: no reaping
/// until then.
const GRACE: Duration = Duration::from_secs(7);
/// The one reaper's claim on a dead instance.
const REAP_CLAIM: Duration = Duration::from_secs(30);
/// How long a reaped instance can learn, when it reaches Redis again, that it was reaped.
const TOMBSTONE: Duration = Duration::from_secs(600);

/// What a survivor or a returning instance must tell the members of a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// `peer` (held by a dead instance) left `space`: `user-disconnected` to everyone.
    Gone { space: String, peer: String },
    /// This instance was taken for dead while cut off from Redis: `user-connected` for its
    /// member `peer` again, to the other instances' members of `space`.
    Back {
        space: String,
        peer: String,
        name: Option<String>,
    },
}

/// A member this instance holds.
pub struct HeldMember {
    pub space: String,
    pub peer: String,
    pub name: Option<String>,
}

/// What this instance holds, to write again after Redis comes back.
pub struct LocalState {
    /// Every member here.
    pub members: Box<dyn Fn() -> Vec<HeldMember> + Send + Sync>,
    /// (PeerJS id, token) of every PeerJS client here.
    pub peers: Box<dyn Fn() -> Vec<(String, String)> + Send + Sync>,
}

impl Cluster {
    /// Records that `peer` (called `name`) joined `space` here (having left `left`, if it
    /// moved); returns every member of the space cluster-wide but `peer`, with their names,
    /// or `None` while Redis is away.
    pub async fn space_joined(
        &self,
        space: &str,
        peer: &str,
        name: Option<&str>,
        left: Option<(&str, &str)>,
    ) -> Option<Vec<(String, Option<String>)>> {
        let mut pipe = redis::pipe();
        if let Some((old_space, old_peer)) = left {
            self.unrecord(&mut pipe, old_space, old_peer);
        }
        self.record(&mut pipe, space, peer, name);
        pipe.hkeys(keys::space(space)).hgetall(keys::names(space));
        let (members, mut names): (Vec<String>, HashMap<String, String>) =
            self.bus.run_pipeline(&pipe).await?;
        Some(
            members
                .into_iter()
                .filter(|m| m != peer)
                .map(|m| {
                    let name = names.remove(&m);
                    (m, name)
                })
                .collect(),
        )
    }

    /// Adds to `pipe` that `peer` (called `name`) is in `space` at this instance.
    fn record(&self, pipe: &mut redis::Pipeline, space: &str, peer: &str, name: Option<&str>) {
        pipe.hset(keys::space(space), peer, &self.node)
            .ignore()
            .hset(keys::members(&self.node), peer, space)
            .ignore();
        match name {
            Some(name) => pipe.hset(keys::names(space), peer, name).ignore(),
            None => pipe.hdel(keys::names(space), peer).ignore(),
        };
    }

    /// Records that `peer` left `space` here.
    pub async fn space_left(&self, space: &str, peer: &str) {
        let mut pipe = redis::pipe();
        self.unrecord(&mut pipe, space, peer);
        let _: Option<()> = self.bus.run_pipeline(&pipe).await;
    }

    /// Adds to `pipe` the removal of `peer` from `space`'s record (unless another instance
    /// holds it now) and from this instance's members.
    fn unrecord(&self, pipe: &mut redis::Pipeline, space: &str, peer: &str) {
        pipe.add_command(scripts::eval(
            HDEL_IF,
            &keys::space(space),
            &[peer, &self.node],
        ))
        .ignore()
        .hdel(keys::members(&self.node), peer)
        .ignore()
        .hdel(keys::names(space), peer)
        .ignore();
    }

    /// Renews this instance's lease.
    async fn renew_lease(&self) -> bool {
        let mut pipe = redis::pipe();
        pipe.add_command(set_expiring(&keys::node(&self.node), "1", LEASE))
            .ignore()
            .sadd(keys::NODES, &self.node)
            .ignore();
        self.bus.run_pipeline::<()>(&pipe).await.is_some()
    }

    /// Instances that wrote state but hold no lease.
    async fn dead_instances(&self) -> Vec<String> {
        let Some(nodes) = self
            .bus
            .run::<Vec<String>>(redis::cmd("SMEMBERS").arg(keys::NODES))
            .await
        else {
            return Vec::new();
        };
        let others: Vec<String> = nodes.into_iter().filter(|n| *n != self.node).collect();
        if others.is_empty() {
            return Vec::new();
        }
        let mut pipe = redis::pipe();
        for node in &others {
            pipe.exists(keys::node(node));
        }
        let Some(alive) = self.bus.run_pipeline::<Vec<bool>>(&pipe).await else {
            return Vec::new();
        };
        others
            .into_iter()
            .zip(alive)
            .filter(|(_, alive)| !alive)
            .map(|(node, _)| node)
            .collect()
    }

    /// Clears a dead instance's members and ids if this instance wins the claim on it;
    /// returns the members to announce as gone.
    async fn reap(&self, dead: &str) -> Vec<Announcement> {
        let claimed = self
            .bus
            .run::<Value>(set_expiring(&keys::reap(dead), &self.node, REAP_CLAIM).arg("NX"))
            .await;
        if claimed != Some(Value::Okay) {
            return Vec::new();
        }
        let members: HashMap<String, String> = self
            .bus
            .run(redis::cmd("HGETALL").arg(keys::members(dead)))
            .await
            .unwrap_or_default();
        let mut gone = Vec::new();
        for (peer, space) in members {
            // Only if no other instance holds the peer now (it may have joined again).
            let removed: Option<i64> = self
                .bus
                .run(&scripts::eval(
                    HDEL_IF,
                    &keys::space(&space),
                    &[&peer, dead],
                ))
                .await;
            if removed == Some(1) {
                let _: Option<i64> = self
                    .bus
                    .run(redis::cmd("HDEL").arg(keys::names(&space)).arg(&peer))
                    .await;
                gone.push(Announcement::Gone { space, peer });
            }
        }
        let ids: Vec<String> = self
            .bus
            .run(redis::cmd("SMEMBERS").arg(keys::peers(dead)))
            .await
            .unwrap_or_default();
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.add_command(scripts::eval(DEL_IF_OWNER, &keys::peer(id), &[dead]))
                .ignore();
        }
        pipe.del(keys::members(dead))
            .ignore()
            .del(keys::peers(dead))
            .ignore()
            .srem(keys::NODES, dead)
            .ignore()
            .add_command(set_expiring(&keys::reaped(dead), "1", TOMBSTONE))
            .ignore();
        let _: Option<()> = self.bus.run_pipeline(&pipe).await;
        tracing::warn!(
            "instance {dead} stopped renewing its lease: {} of its members announced as gone",
            gone.len()
        );
        gone
    }

    /// Writes everything this instance holds again (Redis came back, perhaps empty); if the
    /// others took it for dead meanwhile, returns its members to announce again.
    async fn rewrite(&self, local: &LocalState) -> Vec<Announcement> {
        let reaped: bool = self
            .bus
            .run(redis::cmd("EXISTS").arg(keys::reaped(&self.node)))
            .await
            .unwrap_or(false);
        let members = (local.members)();
        let mut pipe = redis::pipe();
        for m in &members {
            self.record(&mut pipe, &m.space, &m.peer, m.name.as_deref());
        }
        for (id, token) in (local.peers)() {
            pipe.cmd("SET")
                .arg(keys::peer(&id))
                .arg(self.owner_value(&token))
                .arg("NX")
                .ignore()
                .sadd(keys::peers(&self.node), &id)
                .ignore();
        }
        pipe.del(keys::reaped(&self.node)).ignore();
        if self.bus.run_pipeline::<()>(&pipe).await.is_none() {
            return Vec::new();
        }
        if !reaped {
            return Vec::new();
        }
        tracing::warn!(
            "this instance was taken for dead while Redis was away: announcing its {} members again",
            members.len()
        );
        members
            .into_iter()
            .map(|m| Announcement::Back {
                space: m.space,
                peer: m.peer,
                name: m.name,
            })
            .collect()
    }
}

/// `SET key value PX ms`: a key that expires by itself after `lasting`.
fn set_expiring(key: &str, value: &str, lasting: Duration) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key)
        .arg(value)
        .arg("PX")
        .arg(u64::try_from(lasting.as_millis()).unwrap_or(u64::MAX));
    cmd
}

/// Keeps this instance's lease, reaps dead instances and rewrites this instance's state
/// when Redis comes back; `announce` tells the spaces. Runs until the cluster is dropped.
pub async fn run<F, Fut>(cluster: std::sync::Weak<Cluster>, local: LocalState, announce: F)
where
    F: Fn(Announcement) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(mut recoveries) = cluster.upgrade().map(|c| c.bus.recoveries()) else {
        return;
    };
    let mut no_reaping_until = Instant::now();
    loop {
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        if recoveries.has_changed().unwrap_or(false) {
            recoveries.mark_unchanged();
            no_reaping_until = Instant::now() + GRACE;
            for announcement in cluster.rewrite(&local).await {
                announce(announcement).await;
            }
        }
        if cluster.renew_lease().await && Instant::now() >= no_reaping_until {
            for dead in cluster.dead_instances().await {
                for announcement in cluster.reap(&dead).await {
                    announce(announcement).await;
                }
            }
        }
        drop(cluster);
        tokio::time::sleep(REFRESH_EVERY).await;
    }
}

/// Shares the cluster with the task above without keeping it alive.
pub fn spawn<F, Fut>(cluster: &Arc<Cluster>, local: LocalState, announce: F)
where
    F: Fn(Announcement) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(run(Arc::downgrade(cluster), local, announce));
}
