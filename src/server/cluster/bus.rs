//! The one Redis connection of a `serve` instance: commands, pub/sub channels, and whether
//! Redis is reachable right now. It is also the socketioxide-redis [`Driver`], so Socket.IO
//! broadcasts and our own channels share it.
//!
//! Redis going away must never stop an instance serving its own members: publishing then
//! logs and succeeds (the adapter delivers locally after publishing, and gives up on an
//! error), and a supervisor pings once a second, says when Redis is lost and when it is
//! back, subscribes every channel again and bumps [`Bus::recoveries`] so presence and ids
//! are written again. The stock driver keeps one connection that never reconnects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, Value};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::{mpsc, watch};

/// How long one command may take before Redis counts as unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the supervisor checks that Redis answers.
const PING_EVERY: Duration = Duration::from_secs(1);
/// How long `serve --redis` waits for Redis at start before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// Why `serve --redis URL` could not start.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("--redis {url}: not a Redis URL ({reason}); e.g. redis://127.0.0.1:6379")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach Redis at {url}: {reason}")]
    Unreachable { url: String, reason: String },
}

type Handlers = HashMap<String, mpsc::Sender<ChanItem>>;

/// A cheap handle to the shared connection.
#[derive(Clone)]
pub struct Bus(Arc<Inner>);

struct Inner {
    connection: ConnectionManager,
    handlers: Arc<RwLock<Handlers>>,
    up: Arc<AtomicBool>,
    /// Counts the times Redis came back (starts at 0).
    recoveries: watch::Sender<u64>,
    /// The URL without its password, for log lines.
    shown_url: String,
}

impl Bus {
    /// Connects to `url` (a `redis://` URL; RESP3 is asked for, pub/sub needs it) and starts
    /// the supervisor.
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        let shown_url = without_password(url);
        let bad_url = |e: redis::RedisError| BusError::BadUrl {
            url: shown_url.clone(),
            reason: short(&e),
        };
        if !url.starts_with("redis://") && !url.starts_with("redis+unix://") {
            return Err(BusError::BadUrl {
                url: shown_url,
                reason: "it must start with redis://".into(),
            });
        }
        let client = redis::Client::open(with_resp3(url)).map_err(bad_url)?;
        let handlers: Arc<RwLock<Handlers>> = Arc::default();
        let up = Arc::new(AtomicBool::new(true));
        let config = ConnectionManagerConfig::new()
            .set_push_sender(push_sender(handlers.clone(), up.clone()))
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_max_delay(Duration::from_secs(2));
        let unreachable = |reason: String| BusError::Unreachable {
            url: shown_url.clone(),
            reason,
        };
        let connection = tokio::time::timeout(
            START_TIMEOUT,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| unreachable(format!("no answer within {START_TIMEOUT:?}")))?
        .map_err(|e| unreachable(short(&e)))?;
        let (recoveries, _) = watch::channel(0);
        let bus = Bus(Arc::new(Inner {
            connection,
            handlers,
            up,
            recoveries,
            shown_url: shown_url.clone(),
        }));
        bus.ping().await.map_err(unreachable)?;
        tokio::spawn(supervise(Arc::downgrade(&bus.0)));
        Ok(bus)
    }

    /// Whether the last command reached Redis.
    pub fn is_up(&self) -> bool {
        self.0.up.load(Ordering::Relaxed)
    }

    /// Changes each time Redis comes back after being unreachable.
    pub fn recoveries(&self) -> watch::Receiver<u64> {
        self.0.recoveries.subscribe()
    }

    /// Runs `cmd`; `None` (and Redis marked down) when it failed, and at once while Redis
    /// is down: a command would wait out the reconnection's backoff, and local members
    /// must not wait for Redis (the supervisor alone probes it).
    pub async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        let result = bounded(cmd.query_async(&mut self.0.connection.clone())).await;
        self.settle(result)
    }

    /// Runs a pipeline; `None` as for [`Bus::run`].
    pub async fn run_pipeline<T: redis::FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        let result = bounded(pipeline.query_async(&mut self.0.connection.clone())).await;
        self.settle(result)
    }

    /// The value, or `None` with Redis marked down.
    fn settle<T>(&self, result: redis::RedisResult<T>) -> Option<T> {
        result.map_err(|e| self.went_down(&short(&e))).ok()
    }

    /// Publishes `message` on `channel` (lost, and logged, while Redis is away).
    pub async fn publish(&self, channel: &str, message: impl redis::ToRedisArgs) {
        let _: Option<Value> = self
            .run(redis::cmd("PUBLISH").arg(channel).arg(message))
            .await;
    }

    /// Messages published on `channel` from now on (also after Redis comes back).
    pub async fn listen(&self, channel: &str, buffer: usize) -> mpsc::Receiver<ChanItem> {
        let (tx, rx) = mpsc::channel(buffer);
        self.0
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(channel.to_string(), tx);
        if !self.is_up() {
            return rx; // subscribed when Redis is back
        }
        let mut connection = self.0.connection.clone();
        if let Err(e) = bounded(connection.subscribe(channel)).await {
            // Subscribed again when Redis is back.
            self.went_down(&short(&e));
        }
        rx
    }

    async fn ping(&self) -> Result<(), String> {
        let mut connection = self.0.connection.clone();
        let cmd = redis::cmd("PING");
        bounded(cmd.query_async::<Value>(&mut connection))
            .await
            .map(drop)
            .map_err(|e| short(&e))
    }

    /// Marks Redis down, saying so once (until it is back).
    fn went_down(&self, reason: &str) {
        if self.0.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                "Redis at {} is unreachable ({reason}): serving this instance's members only until it is back",
                self.0.shown_url
            );
        }
    }
}

/// Routes pushed messages to their channel's listener; a dropped connection marks Redis down.
fn push_sender(
    handlers: Arc<RwLock<Handlers>>,
    up: Arc<AtomicBool>,
) -> impl Fn(PushInfo) -> Result<(), redis::aio::SendError> + Send + Sync + 'static {
    move |push: PushInfo| {
        match push.kind {
            PushKind::Message => {
                let mut data = push.data.into_iter();
                if let (Some(channel), Some(message)) = (data.next(), data.next())
                    && let (Ok(channel), Ok(message)) = (
                        redis::from_redis_value::<String>(channel),
                        redis::from_redis_value::<Vec<u8>>(message),
                    )
                {
                    let handlers = handlers.read().unwrap_or_else(PoisonError::into_inner);
                    if let Some(tx) = handlers.get(&channel)
                        && tx.try_send((channel, message)).is_err()
                    {
                        tracing::warn!("Redis channel listener is behind; dropped a message");
                    }
                }
            }
            PushKind::Disconnection => up.store(false, Ordering::Relaxed),
            _ => {}
        }
        Ok(())
    }
}

/// Pings Redis every second; on its return, subscribes every channel again and tells the
/// presence and id tasks (through `recoveries`). Ends with the last handle.
async fn supervise(bus: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(PING_EVERY).await;
        let Some(inner) = bus.upgrade() else { return };
        let bus = Bus(inner);
        match bus.ping().await {
            Err(reason) => bus.went_down(&reason),
            Ok(()) if !bus.is_up() => {
                if bus.subscribe_all().await {
                    bus.0.up.store(true, Ordering::Relaxed);
                    tracing::info!(
                        "Redis at {} is back: writing this instance's members again",
                        bus.0.shown_url
                    );
                    bus.0.recoveries.send_modify(|n| *n += 1);
                }
            }
            Ok(()) => {}
        }
    }
}

impl Bus {
    /// Subscribes every listened channel again (a new connection has none); false if Redis
    /// went away meanwhile.
    async fn subscribe_all(&self) -> bool {
        let channels: Vec<String> = self
            .0
            .handlers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        let mut connection = self.0.connection.clone();
        for channel in &channels {
            if bounded(connection.subscribe(channel)).await.is_err() {
                return false;
            }
        }
        true
    }
}

impl Driver for Bus {
    type Error = std::convert::Infallible;

    async fn publish(&self, channel: String, message: Vec<u8>) -> Result<(), Self::Error> {
        Bus::publish(self, &channel, message).await;
        Ok(())
    }

    async fn subscribe(
        &self,
        channel: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        Ok(MessageStream::new(self.listen(&channel, size).await))
    }

    async fn unsubscribe(&self, channel: String) -> Result<(), Self::Error> {
        self.0
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&channel);
        let mut connection = self.0.connection.clone();
        let _ = bounded(connection.unsubscribe(&channel)).await;
        Ok(())
    }

    async fn num_serv(&self, channel: &str) -> Result<u16, Self::Error> {
        // Unknown while Redis is away: then only this instance counts.
        let counted: Option<(String, u16)> = self
            .run(redis::cmd("PUBSUB").arg("NUMSUB").arg(channel))
            .await;
        Ok(counted.map_or(1, |(_, n)| n.max(1)))
    }
}

/// `command` cut off after [`COMMAND_TIMEOUT`]: the connection's own timeouts do not cover
/// a command queued behind a reconnection, and nothing here may wait longer for Redis.
async fn bounded<T>(
    command: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(result) => result,
        Err(_) => Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "no answer within 1 s",
        ))),
    }
}

/// A Redis error as one safe line.
fn short(error: &redis::RedisError) -> String {
    crate::text::sanitize(&error.to_string(), 200)
}

/// `url` with `protocol=resp3` added: pushed pub/sub messages need RESP3.
fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

/// `url` as it may be printed: a password in it becomes `***`.
fn without_password(url: &str) -> String {
    let shown = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_string()
            };
            format!("{}{hidden}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    };
    crate::text::sanitize(&shown, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp3_is_asked_for_once() {
        assert_eq!(
            with_resp3("redis://h:1"),
            "redis://h:1?protocol=resp3".to_string()
        );
        assert_eq!(
            with_resp3("redis://h:1/0?x=1"),
            "redis://h:1/0?x=1&protocol=resp3"
        );
        assert_eq!(
            with_resp3("redis://h?protocol=resp3"),
            "redis://h?protocol=resp3"
        );
    }

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            without_password("redis://user:secret@h:6379/0"),
            "redis://user:***@h:6379/0"
        );
        assert_eq!(
            without_password("redis://:secret@h:6379"),
            "redis://:***@h:6379"
        );
        assert_eq!(without_password("redis://h:6379"), "redis://h:6379");
    }
}
