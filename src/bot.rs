//! `packspaces bot`: a headless participant that joins like `join` and sends a test card in
//! its own colours. Prints what happens, one line each, until Ctrl-C.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;

use crate::model::TileState;
use crate::session::{Session, SessionConfig};

pub async fn run(config: SessionConfig) -> anyhow::Result<()> {
    // Taken over once, first: before we say we are in (a signal sent on that line must
    // not meet the default action), and not anew in each turn of the loop (a signal
    // between turns would be lost).
    let mut signals = crate::signals::StopSignals::new()?;
    let space = config.space.label();
    let session = Session::start(config)
        .await
        .with_context(|| format!("cannot join {space}"))?;
    println!("bot: in {space} as {}", session.our_id);
    let mut seen: BTreeMap<String, TileState> = BTreeMap::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = signals.next() => break,
            _ = ticks.tick() => {
                let now: BTreeMap<String, TileState> = session
                    .shared
                    .state()
                    .room.participants
                    .iter()
                    .map(|p| (p.label().to_string(), p.state))
                    .collect();
                for (who, state) in &now {
                    if seen.get(who) != Some(state) {
                        println!("bot: {who} {}", state.label());
                    }
                }
                for who in seen.keys().filter(|w| !now.contains_key(*w)) {
                    println!("bot: {who} left");
                }
                seen = now;
            }
        }
    }
    println!("bot: leaving");
    session.leave().await;
    Ok(())
}
