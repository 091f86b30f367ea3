//! `packspaces monitor --json`: one JSON line per join, leave or chat line on stdout, for scripts, and
//! no terminal UI. Connection news goes to stderr so that stdout holds only the events.

use std::io::Write;

use anyhow::Context as _;
use serde::Serialize;
use tokio::sync::mpsc;

use super::roster::{Change, ChangeKind};
use super::{Monitor, MonitorConfig, MonitorState};
use crate::model::Link;

#[derive(Serialize)]
struct Line<'a> {
    event: ChangeKind,
    peer: &'a str,
    name: Option<&'a str>,
    /// What a chat line said (chat lines only).
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    time: String,
    count: usize,
    already: bool,
}

/// `{"event":"join","peer":"…","name":"Ada","time":"2025-11-27T11:30:05.123Z","count":2,"already":false}`,
/// and for chat `{"event":"chat","peer":"…","name":"Ada","text":"hello",…}` (serde escapes
/// whatever a name or text holds).
pub fn line(change: &Change) -> String {
    let line = Line {
        event: change.kind,
        peer: &change.peer,
        name: change.name.as_deref(),
        text: change.text.as_deref(),
        time: change.time.rfc3339(),
        count: change.count,
        already: change.already,
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// Watches until Ctrl-C, SIGTERM or SIGHUP, or until stdout is closed (e.g. `| head`).
pub async fn run(config: MonitorConfig) -> anyhow::Result<()> {
    // Taken over once, first: before anything is printed, and not anew in each turn of
    // the loop (a signal between turns would be lost).
    let mut signals = crate::signals::StopSignals::new()?;
    let space = config.space.label();
    let (tx, mut changes) = mpsc::channel(256);
    let monitor = Monitor::start(config, Some(tx))
        .await
        .with_context(|| format!("cannot watch {space}"))?;
    let mut state = monitor.state.clone();
    let mut links = (Link::Connecting, Link::Connecting);
    let mut stdout = std::io::stdout();
    loop {
        tokio::select! {
            _ = signals.next() => break,
            change = changes.recv() => {
                let Some(change) = change else { break };
                if writeln!(stdout, "{}", line(&change)).and_then(|()| stdout.flush()).is_err() {
                    break;
                }
            }
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = state.borrow_and_update().clone();
                report_links(&now, &mut links);
            }
        }
    }
    monitor.stop().await;
    Ok(())
}

/// Tells stderr when the space or PeerServer connection comes up or drops.
fn report_links(state: &MonitorState, last: &mut (Link, Link)) {
    let clean = |s: &str| crate::text::sanitize(s, 120);
    if state.space_link != last.0 {
        eprintln!(
            "packspaces monitor: space {}: {} (as {})",
            clean(&state.space_label),
            state.space_link.label(),
            state.our_id
        );
    }
    if state.peer_link != last.1 {
        eprintln!(
            "packspaces monitor: PeerServer: {}",
            state.peer_link.label()
        );
    }
    *last = (state.space_link.clone(), state.peer_link.clone());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::utc::Utc;

    #[test]
    fn lines_are_one_escaped_json_object() {
        let change = Change {
            kind: ChangeKind::Join,
            peer: "abc".into(),
            name: Some("Ada \"\u{1b}[2J\n".into()),
            text: None,
            time: Utc::from_millis(1_764_243_005_123),
            count: 2,
            already: true,
        };
        let text = line(&change);
        assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"event": "join", "peer": "abc", "name": "Ada \"\u{1b}[2J\n",
                "time": "2025-11-27T11:30:05.123Z", "count": 2, "already": true})
        );
        let leave = Change {
            kind: ChangeKind::Leave,
            name: None,
            ..change
        };
        assert!(line(&leave).starts_with(r#"{"event":"leave","peer":"abc","name":null,"#));
        let chat = Change {
            kind: ChangeKind::Chat,
            text: Some("<b>hi</b>\u{1b}[2J".into()),
            ..leave
        };
        let v: serde_json::Value = serde_json::from_str(&line(&chat)).unwrap();
        assert_eq!(v["event"], "chat");
        assert_eq!(v["text"], "<b>hi</b>\u{1b}[2J");
    }
}
