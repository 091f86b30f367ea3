//! Several `serve` instances as one server (`serve --redis URL`): what each instance writes
//! to Redis and reads back. Socket.IO events reach every instance through the
//! socketioxide-redis adapter (over [`bus::Bus`]); on top of it, this module keeps:
//!
//! - who is in which space, cluster-wide (`space-members` for a newcomer) — [`presence`];
//! - each instance's lease, so that within 10 s of one dying its members are announced as
//!   gone by a survivor (presence with a TTL, not a goodbye message) — [`presence`];
//! - PeerJS ids, unique cluster-wide, and relays to the instance holding a destination —
//!   [`peers`].
//!
//! Redis is a shared notebook, not the truth: each instance's own members are, so after
//! Redis comes back (or restarts empty) every instance writes its members again.

pub mod bus;
pub mod peers;
pub mod presence;
pub mod routing;

use bus::Bus;

/// The socketioxide adapter of a clustered server.
pub type ClusterAdapter =
    socketioxide_redis::CustomRedisAdapter<socketioxide::adapter::Emitter, Bus>;

/// This instance's place in the cluster.
pub struct Cluster {
    pub bus: Bus,
    /// This instance's id (new at each start).
    pub node: String,
}

impl Cluster {
    pub fn new(bus: Bus) -> Self {
        Self {
            bus,
            node: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The adapter's configuration: its own channel prefix, and requests that give up soon
    /// (we never wait for acknowledgements).
    pub fn adapter_config() -> socketioxide_redis::RedisAdapterConfig {
        socketioxide_redis::RedisAdapterConfig::new()
            .with_prefix(keys::ADAPTER_PREFIX)
            .with_request_timeout(std::time::Duration::from_secs(2))
    }
}

/// Redis key and channel names, all under `packspaces:`.
pub mod keys {
    /// The socketioxide-redis adapter's channels.
    pub const ADAPTER_PREFIX: &str = "packspaces-sio";
    /// Set of instance ids that have written state.
    pub const NODES: &str = "packspaces:nodes";
    /// Channel: `{"id":…,"node":…}` when a PeerJS client connects somewhere.
    pub const PEER_ONLINE: &str = "packspaces:peer-online";

    /// An instance's lease: present while it lives.
    pub fn node(node: &str) -> String {
        format!("packspaces:node:{node}")
    }
    /// Hash peer id → instance, for one space.
    pub fn space(space: &str) -> String {
        format!("packspaces:space:{space}")
    }
    /// Hash peer id → name, for the members of one space that gave a name.
    pub fn names(space: &str) -> String {
        format!("packspaces:names:{space}")
    }
    /// Hash peer id → space, of the members one instance holds.
    pub fn members(node: &str) -> String {
        format!("packspaces:members:{node}")
    }
    /// A PeerJS id's owner: `"{node} {token hash}"`.
    pub fn peer(id: &str) -> String {
        format!("packspaces:peer:{id}")
    }
    /// Set of PeerJS ids one instance holds.
    pub fn peers(node: &str) -> String {
        format!("packspaces:peers:{node}")
    }
    /// Held by the one survivor that announces a dead instance's members.
    pub fn reap(node: &str) -> String {
        format!("packspaces:reap:{node}")
    }
    /// Left for an instance that was reaped while it lived (cut off from Redis).
    pub fn reaped(node: &str) -> String {
        format!("packspaces:reaped:{node}")
    }
    /// Channel of messages for one instance (relays, kicks).
    pub fn inbox(node: &str) -> String {
        format!("packspaces:inbox:{node}")
    }
}

/// Lua scripts for compare-and-delete (Redis 7 has no conditional DEL).
mod scripts {
    /// HDEL KEYS[1] ARGV[1] if its value is ARGV[2].
    pub const HDEL_IF: &str = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0";
    /// DEL KEYS[1] if its value is ARGV[1].
    pub const DEL_IF: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
    /// DEL KEYS[1] if its value starts with ARGV[1] and a space.
    pub const DEL_IF_OWNER: &str = "local v = redis.call('GET', KEYS[1]) if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then return redis.call('DEL', KEYS[1]) end return 0";

    /// `EVAL script 1 key args…`
    pub fn eval(script: &str, key: &str, args: &[&str]) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(1).arg(key);
        for arg in args {
            cmd.arg(*arg);
        }
        cmd
    }
}
