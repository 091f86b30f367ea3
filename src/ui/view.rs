//! Draws the [`State`]: status bar, video grid (or the focused tile), participant list,
//! bottom bar and the help overlay. A pure function of the state: ratatui draws the chrome,
//! and each picture's cells are reserved as a [`VideoSlot`] for the output's painter.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::{KEYS, State, layout};
use crate::model::{Link, Participant, TileState};
use std::sync::Arc;

use crate::render::frame::I420Frame;
use crate::render::{VideoSlot, draw_slots, reserve_video};

/// The participant list is shown when the terminal is at least this wide.
const LIST_MIN_WIDTH: u16 = 70;
const LIST_WIDTH: u16 = 30;

/// Draws the chrome and returns the pictures for the output to paint into their slots.
pub fn render(frame: &mut Frame, state: &State) -> Vec<VideoSlot> {
    let mut slots = Vec::new();
    let [top, middle, bottom] = bars(frame.area());
    let mut you = match (&state.room.our_name, &state.room.our_id) {
        (Some(n), Some(id)) => format!("{n} ({})", short(id)),
        (None, Some(id)) => short(id).to_string(),
        (_, None) => "registering…".to_string(),
    };
    let switched_off = state.room.controls.summary();
    if !switched_off.is_empty() {
        you = format!("{you} · {switched_off}");
    }
    let links = [&state.room.space_link, &state.room.peer_link];
    // The demo tells others (browsers, or `packspaces join`) where to come in, next to the
    // space's name.
    let space = match &state.invite {
        Some(url) => format!("{} │ join: {url}", state.room.space_label),
        None => state.room.space_label.clone(),
    };
    // Chat nobody has seen yet, at the right of the status bar.
    let top = match state.room.chat.unread {
        0 => top,
        n => right_of_bar(
            frame,
            top,
            format!(" chat: {n} unread (c) "),
            Style::new().bg(Color::Indexed(236)).fg(Color::Cyan),
            Alignment::Right,
        ),
    };
    let top = match &state.room.sound {
        // A sound problem stays at the right of the status bar.
        Some(trouble) => right_of_bar(
            frame,
            top,
            format!(" sound: {trouble} "),
            Style::new().bg(Color::Indexed(236)).fg(Color::Yellow),
            Alignment::Left,
        ),
        None => top,
    };
    status_bar(frame, top, "packspaces", &space, &you, links);
    let (videos, list) = split_middle(middle);
    let page = video_grid(frame, videos, state, &mut slots);
    match (list, state.chat_open) {
        (Some(list), false) => participant_list(frame, list, state),
        (Some(column), true) => {
            // Who is here on top (a few rows), the chat below.
            let list_rows = (state.room.participants.len() as u16 + 2).min(column.height / 3);
            let [list, chat] =
                Layout::vertical([Constraint::Length(list_rows), Constraint::Min(0)]).areas(column);
            participant_list(frame, list, state);
            chat_pane(frame, chat, state);
        }
        (None, true) => {
            // No room beside the videos: the chat covers their lower half.
            let height = (middle.height / 2).max(middle.height.min(6));
            let area = Rect::new(middle.x, middle.bottom() - height, middle.width, height);
            frame.render_widget(Clear, area);
            chat_pane(frame, area, state);
        }
        (None, false) => {}
    }
    let follow = if state.follow_speaker {
        " · following the speaker (a)"
    } else {
        ""
    };
    let keys = match page {
        _ if state.chat_open => {
            " chat: type, Enter send · PgUp/PgDn scroll back · Ctrl-U clear · Esc close".to_string()
        }
        _ if state.focused => {
            format!(" Esc back to the grid · Tab next · s save · ? help · q quit{follow}")
        }
        Some((page, pages)) => format!(
            " page {}/{pages}: PgUp/PgDn · Tab select · Enter zoom · ? help · q quit{follow}",
            page + 1
        ),
        None => format!(
            " Tab select · Enter zoom · c chat · m/v/d mic/video/sound · ? help · q quit{follow}"
        ),
    };
    let bottom = match &state.output {
        // What the output costs (kbit/s, video fps) at the right of the bottom bar.
        Some(figures) => right_of_bar(
            frame,
            bottom,
            format!(" {figures} "),
            Style::new().fg(Color::DarkGray),
            Alignment::Right,
        ),
        None => bottom,
    };
    bottom_bar(frame, bottom, state.notice.as_deref(), &keys);
    if state.show_help {
        help(frame, middle);
    }
    slots
}

/// [`render`] with the pictures drawn into the buffer as well, as the output would paint
/// them: the whole screen a user sees, for tests and screenshots.
pub fn render_with_video(frame: &mut Frame, state: &State) {
    let slots = render(frame, state);
    draw_slots(frame.buffer_mut(), &slots, state.color);
}

/// The middle split into the video area and, on a wide enough screen, the participant list.
fn split_middle(middle: Rect) -> (Rect, Option<Rect>) {
    if middle.width >= LIST_MIN_WIDTH {
        let [v, l] =
            Layout::horizontal([Constraint::Min(1), Constraint::Length(LIST_WIDTH)]).areas(middle);
        (v, Some(l))
    } else {
        (middle, None)
    }
}

/// How many tiles a page of the grid holds on a screen of `cols x rows` (for
/// [`State::per_page`]).
pub fn tiles_per_page(cols: u16, rows: u16) -> usize {
    let [_, middle, _] = bars(Rect::new(0, 0, cols, rows));
    layout::tiles_per_page(split_middle(middle).0)
}

/// The screen's rows: a status bar, the middle, and a bottom bar.
pub fn bars(area: Rect) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area)
}

/// The top bar: the command, the space, who we are, and the space and PeerServer
/// connections. `space_label` and `you` must already be safe for the terminal.
pub fn status_bar(
    frame: &mut Frame,
    area: Rect,
    command: &str,
    space_label: &str,
    you: &str,
    [space, peers]: [&Link; 2],
) {
    let dim = Style::new().fg(Color::Gray);
    let line = Line::from(vec![
        Span::styled(
            format!(" {command} "),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled("│ ", dim),
        Span::raw(space_label.to_string()),
        Span::styled(" │ you: ", dim),
        Span::raw(you.to_string()),
        Span::styled(" │ space: ", dim),
        Span::raw(space.label()),
        Span::styled(" │ peers: ", dim),
        Span::raw(peers.label()),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().bg(Color::Indexed(236))),
        area,
    );
}

/// Draws `text` (already safe for the terminal) at the right of a bar, at most half of
/// it; returns the rest of the bar.
fn right_of_bar(
    frame: &mut Frame,
    area: Rect,
    text: String,
    style: Style,
    alignment: Alignment,
) -> Rect {
    let width = (text.chars().count() as u16).min(area.width / 2);
    let [rest, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(width)]).areas(area);
    frame.render_widget(
        Paragraph::new(text).alignment(alignment).style(style),
        right,
    );
    rest
}

/// The bottom line: the latest notice (already safe for the terminal), else the keys.
pub fn bottom_bar(frame: &mut Frame, area: Rect, notice: Option<&str>, keys: &str) {
    frame.render_widget(
        Paragraph::new(notice.unwrap_or(keys).to_string()).style(Style::new().fg(Color::Gray)),
        area,
    );
}

/// One tile of the grid: ours, or a participant's (an index into the room).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tile {
    Own,
    Participant(usize),
}

/// Where the tiles go in the video area, and (page, pages) when there is more than one page.
struct Placement {
    tiles: Vec<(Rect, Tile)>,
    page: Option<(usize, usize)>,
}

/// Ours first, then everyone in join order, as many as fit legibly (the page
/// [`State::page`] of them); or the focused one alone.
fn placement(area: Rect, state: &State) -> Placement {
    if state.focused && state.selected().is_some() {
        return Placement {
            tiles: vec![(area, Tile::Participant(state.selected))],
            page: None,
        };
    }
    let count = state.room.participants.len() + 1;
    let per_page = layout::tiles_per_page(area);
    let pages = count.div_ceil(per_page);
    let page = state.page.min(pages - 1);
    let first = page * per_page;
    let shown = first..count.min(first + per_page);
    let tiles = layout::grid(area, shown.len());
    let tiles = tiles
        .into_iter()
        .zip(shown)
        .map(|(rect, i)| match i {
            0 => (rect, Tile::Own),
            i => (rect, Tile::Participant(i - 1)),
        })
        .collect();
    Placement {
        tiles,
        page: (pages > 1).then_some((page, pages)),
    }
}

/// The tiles of the grid drawn; (page, pages) when there is more than one page.
fn video_grid(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    slots: &mut Vec<VideoSlot>,
) -> Option<(usize, usize)> {
    let placed = placement(area, state);
    for (area, tile) in placed.tiles {
        match tile {
            Tile::Own => own_tile(frame, area, state, slots),
            Tile::Participant(i) => participant_tile(
                frame,
                area,
                &state.room.participants[i],
                i == state.selected,
                slots,
            ),
        }
    }
    placed.page
}

/// The picture area (cells inside the border) of every participant on screen on a
/// terminal of `cols x rows`, by peer id: what each of them should send us.
pub fn picture_areas(state: &State, cols: u16, rows: u16) -> Vec<(&str, (u16, u16))> {
    let [_, middle, _] = bars(Rect::new(0, 0, cols, rows));
    placement(split_middle(middle).0, state)
        .tiles
        .into_iter()
        .filter_map(|(rect, tile)| match tile {
            Tile::Own => None,
            Tile::Participant(i) => {
                let inner = Block::new().borders(Borders::ALL).inner(rect);
                let p = &state.room.participants[i];
                Some((p.peer_id.as_str(), (inner.width, inner.height)))
            }
        })
        .collect()
}

/// The picture area of a zoomed tile on a terminal of `cols x rows`: the most any peer is
/// asked to send.
pub fn zoomed_area(cols: u16, rows: u16) -> (u16, u16) {
    let [_, middle, _] = bars(Rect::new(0, 0, cols, rows));
    let inner = Block::new()
        .borders(Borders::ALL)
        .inner(split_middle(middle).0);
    (inner.width, inner.height)
}

/// Our own tile: the self-view, named "(you)", with what we switched off.
fn own_tile(frame: &mut Frame, area: Rect, state: &State, slots: &mut Vec<VideoSlot>) {
    let mut title = match &state.room.our_name {
        Some(n) => format!(" {n} (you) "),
        None => " you ".to_string(),
    };
    let off = state.room.controls.summary();
    if !off.is_empty() {
        title.push_str(&format!("· {off} "));
    }
    let own_video = state.room.self_view.as_ref().map(|f| (OWN_TILE, f));
    tile(frame, area, &title, own_video, None, false, slots);
}

/// The key of our own tile's picture (peer ids are UUIDs or PeerJS ids, never this).
pub const OWN_TILE: &str = " you";

fn participant_tile(
    frame: &mut Frame,
    area: Rect,
    p: &Participant,
    selected: bool,
    slots: &mut Vec<VideoSlot>,
) {
    let speaking = if p.speaking { " ♪" } else { "" };
    let hearing = p
        .hearing
        .label()
        .map(|h| format!(" · {h}"))
        .unwrap_or_default();
    let title = format!(" {}{speaking} · {}{hearing} ", p.label(), p.state.label());
    let placeholder = match p.state {
        TileState::Live if p.frame.is_none() => Some("waiting for the first frame…"),
        TileState::Live => None,
        TileState::Connecting => Some("connecting…"),
        TileState::NoVideo => Some("no video"),
        TileState::Paused => Some("video paused"),
        TileState::Unreachable => Some("unreachable"),
    };
    let video = match placeholder {
        None => p.frame.as_ref().map(|f| (p.peer_id.as_str(), f)),
        Some(_) => None,
    };
    tile(frame, area, &title, video, placeholder, selected, slots);
}

/// A bordered tile with its title, and either a picture (key and frame) or a placeholder.
fn tile(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    video: Option<(&str, &Arc<I420Frame>)>,
    placeholder: Option<&str>,
    selected: bool,
    slots: &mut Vec<VideoSlot>,
) {
    let border = if selected {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new().fg(Color::DarkGray)
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(if selected {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(border)
        .title(Span::styled(
            title.to_string(),
            Style::new().fg(Color::White),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    match video {
        Some((key, v)) => slots.extend(reserve_video(frame.buffer_mut(), key, inner, v)),
        None => {
            let text = placeholder.unwrap_or("no video");
            let y = inner.y + inner.height / 2;
            if inner.height > 0 {
                frame.render_widget(
                    Paragraph::new(text)
                        .alignment(Alignment::Center)
                        .style(Style::new().fg(Color::Gray)),
                    Rect::new(inner.x, y, inner.width, 1),
                );
            }
        }
    }
}

fn participant_list(frame: &mut Frame, area: Rect, state: &State) {
    let block = Block::new()
        .borders(Borders::LEFT)
        .border_style(Style::new().fg(Color::DarkGray))
        .title(format!(" {} here ", state.room.participants.len() + 1));
    let mut lines = vec![Line::from(vec![
        Span::raw("  "),
        Span::raw(state.room.our_name.clone().unwrap_or_else(|| "you".into())),
        Span::styled(" (you)", Style::new().fg(Color::Gray)),
    ])];
    for (i, p) in state.room.participants.iter().enumerate() {
        let marker = if i == state.selected { "▶ " } else { "  " };
        let colour = match p.state {
            TileState::Live => Color::Green,
            TileState::Connecting => Color::Yellow,
            TileState::NoVideo => Color::Gray,
            TileState::Paused => Color::Yellow,
            TileState::Unreachable => Color::Red,
        };
        let mut spans = vec![
            Span::raw(marker),
            Span::raw(truncate(p.label(), 16)),
            Span::styled(format!(" {}", p.state.label()), Style::new().fg(colour)),
        ];
        if p.speaking {
            spans.push(Span::styled(" ♪", Style::new().fg(Color::Cyan)));
        }
        lines.push(Line::from(spans));
    }
    // A long list scrolls so that the selected one stays in view.
    let visible = usize::from(block.inner(area).height).max(1);
    let selected_line = state.selected + 1;
    let offset = (selected_line + 1).saturating_sub(visible);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((u16::try_from(offset).unwrap_or(u16::MAX), 0)),
        area,
    );
}

/// The chat: the newest lines that fit (or older ones, scrolled back), wrapped, over the
/// line being typed. Every text in it is already safe for the terminal.
fn chat_pane(frame: &mut Frame, area: Rect, state: &State) {
    let chat = &state.room.chat;
    let title = if state.chat_scroll > 0 {
        format!(" chat · {} lines back (PgDn) ", state.chat_scroll)
    } else {
        " chat ".to_string()
    };
    let block = Block::new()
        .borders(Borders::LEFT | Borders::TOP)
        .border_style(Style::new().fg(Color::Cyan))
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width < 4 {
        return;
    }
    let width = usize::from(inner.width);
    let [history, typing] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    let mut rows: Vec<Line> = Vec::new();
    if !chat.available {
        rows.push(Line::styled(
            super::CHAT_UNAVAILABLE,
            Style::new().fg(Color::Yellow),
        ));
    }
    // Scrolled back to the start, the pane still shows a paneful (lines are counted as
    // one row each here; long ones wrap into more).
    let newest = chat
        .lines
        .len()
        .saturating_sub(state.chat_scroll)
        .max(usize::from(history.height).min(chat.lines.len()));
    // From the newest line shown back, until the pane is full.
    let mut shown: Vec<Line> = Vec::new();
    for said in chat.lines.range(..newest).rev() {
        let who_style = if said.ours {
            Style::new().fg(Color::Green)
        } else {
            Style::new().fg(Color::Cyan)
        };
        let head = format!("{} {}: ", said.clock, said.who);
        let mut wrapped = wrap(&format!("{head}{}", said.text), width);
        let first = wrapped.remove(0);
        let split = head.len().min(first.len());
        let mut lines = vec![Line::from(vec![
            Span::styled(first[..split].to_string(), who_style),
            Span::raw(first[split..].to_string()),
        ])];
        lines.extend(wrapped.into_iter().map(Line::raw));
        for line in lines.into_iter().rev() {
            shown.push(line);
        }
        if shown.len() >= usize::from(history.height) {
            break;
        }
    }
    shown.reverse();
    rows.extend(shown);
    let skip = rows.len().saturating_sub(usize::from(history.height));
    frame.render_widget(
        Paragraph::new(rows.into_iter().skip(skip).collect::<Vec<_>>()),
        history,
    );
    // The end of what is typed, and a block for the cursor.
    let typed = &state.chat_input;
    let room = width.saturating_sub(3);
    let tail = tail_fitting(typed, room);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("> ", Style::new().fg(Color::Cyan)),
            Span::raw(crate::text::sanitize(tail, usize::MAX)),
            Span::styled("▏", Style::new().fg(Color::Cyan)),
        ])),
        typing,
    );
}

/// `text` cut into rows of at most `width` columns (by display width; a character wider
/// than the row gets a row of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut rows = vec![String::new()];
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width && used > 0 {
            rows.push(String::new());
            used = 0;
        }
        if let Some(row) = rows.last_mut() {
            row.push(c);
        }
        used += w;
    }
    rows
}

/// The end of `text` that fits in `width` columns.
fn tail_fitting(text: &str, width: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices().rev() {
        used += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used > width {
            return &text[i + c.len_utf8()..];
        }
    }
    text
}

fn help(frame: &mut Frame, area: Rect) {
    let width = 60.min(area.width);
    let height = (KEYS.len() as u16 + 4).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>14}  "), Style::new().fg(Color::Yellow)),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" keys (Esc closes) ")),
        popup,
    );
}

/// The first 8 characters of an id.
pub fn short(id: &str) -> &str {
    id.char_indices()
        .nth(8)
        .map(|(i, _)| &id[..i])
        .unwrap_or(id)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}
