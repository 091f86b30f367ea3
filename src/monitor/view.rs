//! Draws the monitor: a status bar, the participants table (name or id, time joined, call
//! state), the timeline of joins and leaves with running counts, and a key bar. A pure
//! function of [`MonitorState`]; every id and name is sanitized here, where it meets the
//! terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};

use super::MonitorState;
use super::roster::{ChangeKind, Member, Presence};
use crate::text::sanitize;
use crate::ui::view::{bars, bottom_bar, short, status_bar};

/// Side by side from this width; stacked below it.
const SIDE_BY_SIDE: u16 = 90;
/// Widest name or id in the table and the timeline.
const LABEL: usize = 36;

pub fn render(frame: &mut Frame, state: &MonitorState) {
    let [top, middle, bottom] = bars(frame.area());
    let links = [&state.space_link, &state.peer_link];
    let you = sanitize(short(&state.our_id), 8);
    let space = sanitize(&state.space_label, 80);
    status_bar(frame, top, "packspaces monitor", &space, &you, links);
    let [people, timeline] = if middle.width >= SIDE_BY_SIDE {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(middle)
    } else {
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(middle)
    };
    participants(frame, people, state);
    history(frame, timeline, state);
    let notice = state.notice.as_deref().map(|n| sanitize(n, 200));
    let keys = " q quit · times in UTC · no media is sent or received";
    bottom_bar(frame, bottom, notice.as_deref(), keys);
}

/// Name (or id when nameless), cleaned and cut for the screen.
fn label(peer: &str, name: Option<&str>) -> String {
    let text = sanitize(name.unwrap_or(peer), LABEL + 1);
    if text.chars().count() > LABEL {
        let mut cut: String = text.chars().take(LABEL - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

fn participants(frame: &mut Frame, area: Rect, state: &MonitorState) {
    let members = state.roster.members();
    // Present first, in the order they came; then who left, most recent first.
    let present = members.iter().filter(|m| m.is_present());
    let mut gone: Vec<&Member> = members.iter().filter(|m| !m.is_present()).collect();
    gone.sort_by_key(|m| std::cmp::Reverse(m.left));
    let rows = present.chain(gone).map(|m| {
        let colour = match m.presence {
            Presence::InSpace => Color::Green,
            Presence::CalledUs => Color::Cyan,
            Presence::Left => Color::DarkGray,
        };
        let joined = if m.already {
            format!("{} ←", m.joined.clock())
        } else {
            m.joined.clock()
        };
        Row::new(vec![
            label(&m.peer, m.name.as_deref()),
            joined,
            m.presence.label().to_string(),
        ])
        .style(Style::new().fg(colour))
    });
    let table = Table::new(
        rows,
        [
            Constraint::Min(12),
            Constraint::Length(10),
            Constraint::Length(9),
        ],
    )
    .header(
        Row::new(["name or peer id", "joined", "state"])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(
        Block::new()
            .borders(Borders::ALL)
            .border_style(Style::new().fg(Color::DarkGray))
            .title(format!(
                " {} here (← was here before us) ",
                state.roster.present()
            )),
    );
    frame.render_widget(table, area);
}

fn history(frame: &mut Frame, area: Rect, state: &MonitorState) {
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(Color::DarkGray))
        .title(" timeline ");
    let rows = usize::from(block.inner(area).height);
    let timeline = state.roster.timeline();
    // The newest entries that fit, oldest of them first.
    let lines: Vec<Line> = timeline
        .iter()
        .skip(timeline.len().saturating_sub(rows))
        .map(|c| {
            let (sign, verb, colour) = match c.kind {
                ChangeKind::Join if c.already => ("+", " was here".to_string(), Color::Green),
                ChangeKind::Join => ("+", " joined".to_string(), Color::Green),
                ChangeKind::Leave => ("-", " left".to_string(), Color::Red),
                ChangeKind::Chat => {
                    let text = c.text.as_deref().unwrap_or_default();
                    let said = sanitize(&text.replace(['\n', '\r', '\t'], " "), 500);
                    (">", format!(": {said}"), Color::Cyan)
                }
            };
            // The count goes before the name, so a narrow screen cuts the name, not it.
            Line::from(vec![
                Span::styled(
                    format!("{} {:>3} here ", c.time.clock(), c.count),
                    Style::new().fg(Color::Gray),
                ),
                Span::styled(format!("{sign} "), Style::new().fg(colour)),
                Span::raw(label(&c.peer, c.name.as_deref())),
                Span::raw(verb),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Link;
    use crate::monitor::roster::{Input, Roster};
    use crate::monitor::utc::Utc;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn state(roster: Roster) -> MonitorState {
        MonitorState {
            space_label: "127.0.0.1:3000 CSC342".into(),
            our_id: "0123456789abcdef".into(),
            space_link: Link::Up,
            peer_link: Link::Down("gone\u{1b}[2J".into()),
            roster,
            notice: None,
        }
    }

    fn screen(state: &MonitorState, w: u16, h: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| render(f, state)).unwrap();
        let buf = terminal.backend().buffer();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n")
            .collect()
    }

    fn at(secs: u64) -> Utc {
        Utc::from_millis(1_764_243_000_000 + secs * 1000)
    }

    fn busy_roster() -> Roster {
        let mut r = Roster::default();
        r.apply(
            Input::Called {
                peer: "ada-id".into(),
                name: Some("Ada".into()),
            },
            at(5),
        );
        r.apply(Input::Connected("carl".into()), at(7));
        r.apply(Input::Connected("bob-peer-id".into()), at(9));
        r.apply(Input::Disconnected("carl".into()), at(20));
        r
    }

    #[test]
    fn rows_show_names_times_states_and_counts() {
        let s = state(busy_roster());
        for (w, h) in [(120, 20), (80, 30)] {
            let text = screen(&s, w, h);
            for want in [
                "packspaces monitor",
                "you: 01234567",
                "2 here",
                "Ada",
                "11:30:05 ←",
                "called us",
                "bob-peer-id",
                "11:30:09",
                "in space",
                "carl",
                "left",
                "11:30:05   1 here + Ada was here",
                "11:30:07   2 here + carl joined",
                "11:30:09   3 here + bob-peer-id joined",
                "11:30:20   2 here - carl left",
                "q quit",
            ] {
                assert!(text.contains(want), "{w}x{h}: no {want:?} in\n{text}");
            }
        }
        // Stacked (narrow): the table comes first, present members above the one who left.
        let text = screen(&s, 80, 30);
        let row = |who: &str| text.lines().position(|l| l.contains(who)).unwrap();
        assert!(row("Ada") < row("bob-peer-id"), "{text}");
        assert!(row("bob-peer-id") < row("carl"), "{text}");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let mut r = Roster::default();
        r.apply(
            Input::Called {
                peer: "p1".into(),
                name: Some("Eve\u{1b}[2J\u{7}\u{202e}x".into()),
            },
            at(1),
        );
        let mut s = state(r);
        s.notice = Some("space server: bad\u{1b}]0;title\u{7}".into());
        let text = screen(&s, 100, 12);
        assert!(text.contains("Eve\u{fffd}[2J\u{fffd}\u{fffd}x"), "{text}");
        assert!(text.contains("bad\u{fffd}]0;title\u{fffd}"), "{text}");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }

    #[test]
    fn the_newest_timeline_entries_fit_and_tiny_terminals_render() {
        let mut r = Roster::default();
        for i in 0..50 {
            r.apply(Input::Connected(format!("p{i}")), at(i));
        }
        let text = screen(&state(r.clone()), 100, 12);
        assert!(text.contains(" 50 here + p49 joined"), "{text}");
        assert!(!text.contains("+ p0 joined"), "{text}");
        for (w, h) in [(1, 1), (10, 3), (20, 5)] {
            screen(&state(r.clone()), w, h);
        }
    }
}
