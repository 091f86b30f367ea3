//! Logging goes to a file (tracing), never to the screen the terminal UI owns.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;

/// The target of the runtime's task count ([`log_task_count`]): `PACKSPACES_LOG=
/// packspaces::tasks=debug` turns it on.
pub const TASKS_TARGET: &str = "packspaces::tasks";
/// How often the task count is logged.
const TASK_COUNT_INTERVAL: Duration = Duration::from_secs(5);

/// Sends tracing output to `path` (appending). Without a path nothing is logged.
/// The level comes from `PACKSPACES_LOG` (e.g. `debug`, `packspaces=trace`), default `info`.
pub fn init(path: Option<&Path>) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    let filter =
        EnvFilter::try_from_env("PACKSPACES_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

/// Logs how many tasks the tokio runtime holds, every [`TASK_COUNT_INTERVAL`], while the
/// [`TASKS_TARGET`] is enabled at debug level (and never otherwise). A task that outlives
/// its job (a call's, a connection's) shows as a count that only grows over a long run:
/// threads and open files do not tell, since tasks share both. `tests/it/soak.rs` reads it.
pub async fn log_task_count() {
    if !tracing::enabled!(target: TASKS_TARGET, tracing::Level::DEBUG) {
        return;
    }
    let mut every = tokio::time::interval(TASK_COUNT_INTERVAL);
    loop {
        every.tick().await;
        let alive = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        tracing::debug!(target: TASKS_TARGET, alive, "tasks alive");
    }
}
