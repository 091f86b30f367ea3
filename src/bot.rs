//! `packspaces bot`: a headless participant that joins like `join` and sends a test card in
//! its own colours. Prints what happens (who comes and goes, chat lines), one line each,
//! until Ctrl-C; `--say TEXT` says one line in the chat once the space is joined.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;

use crate::model::TileState;
use crate::session::{Session, SessionConfig};

/// How long `--say` waits to learn that the server relays chat before saying it cannot.
const CHAT_WAIT: Duration = Duration::from_secs(10);

pub async fn run(config: SessionConfig, mut say: Option<String>) -> anyhow::Result<()> {
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
    let mut chat_seen = 0;
    let give_up_on_chat = tokio::time::Instant::now() + CHAT_WAIT;
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
                chat_seen = print_chat(&session, chat_seen);
                if let Some(text) = say.take() {
                    say = say_when_ready(&session, text, give_up_on_chat).await;
                }
            }
        }
    }
    if say.is_some() {
        eprintln!("bot: left before saying anything (the space never became ready)");
    }
    println!("bot: leaving");
    session.leave().await;
    Ok(())
}

/// Prints the chat lines received after the first `seen` (all safe for the terminal);
/// returns how many were received in all.
fn print_chat(session: &Session, seen: usize) -> usize {
    let state = session.shared.state();
    for said in state.room.chat.since(seen) {
        println!("bot: chat {} {}: {}", said.clock, said.who, said.text);
    }
    state.room.chat.received
}

/// Says `text` once the server is known to relay chat; gives up (saying why) after
/// `deadline`. Returns the text when it is still to be said.
async fn say_when_ready(
    session: &Session,
    text: String,
    deadline: tokio::time::Instant,
) -> Option<String> {
    let available = session.shared.state().room.chat.available;
    if available {
        if !session.say(&text).await {
            eprintln!("bot: could not say it: the session has stopped");
        }
        return None;
    }
    if tokio::time::Instant::now() >= deadline {
        eprintln!("bot: {}", crate::ui::CHAT_UNAVAILABLE);
        return None;
    }
    Some(text)
}
