//! The conferencing UI rendered on a TestBackend: tiles show participants' video in the
//! right colours where the layout puts them, labels and states are visible, hostile
//! names cannot reach the terminal, and any terminal size renders.

use std::sync::Arc;

use packspaces::model::TileState;
use packspaces::render::{ColorMode, I420Frame, Rgb};
use packspaces::ui::{Action, State, layout, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;

fn draw(state: &State, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| view::render_with_video(f, state))
        .unwrap();
    terminal.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

fn solid(c: Rgb) -> Option<Arc<I420Frame>> {
    Some(Arc::new(I420Frame::solid(64, 48, c).unwrap()))
}

/// Counts cells inside `area` drawn as half-blocks of about colour `c` in both halves.
fn cells_of(buf: &Buffer, area: Rect, c: Rgb) -> usize {
    let near = |col: Color| match col {
        Color::Rgb(r, g, b) => r.abs_diff(c.r) <= 4 && g.abs_diff(c.g) <= 4 && b.abs_diff(c.b) <= 4,
        _ => false,
    };
    let mut n = 0;
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &buf[(x, y)];
            if cell.symbol() == "▀" && near(cell.fg) && near(cell.bg) {
                n += 1;
            }
        }
    }
    n
}

fn inner(r: Rect) -> Rect {
    Rect::new(
        r.x + 1,
        r.y + 1,
        r.width.saturating_sub(2),
        r.height.saturating_sub(2),
    )
}

fn two_people() -> State {
    let mut s = State::new("127.0.0.1:3000 CSC342", ColorMode::TrueColor);
    s.room.our_id = Some("0123456789abcdef".into());
    s.room.our_name = Some("Me".into());
    s.room.self_view = solid(Rgb::new(0, 0, 255));
    let ada = s.room.upsert("ada-id");
    ada.set_name("Ada");
    ada.state = TileState::Live;
    ada.frame = solid(Rgb::new(255, 0, 0));
    s.room.upsert("bob-id").state = TileState::Connecting;
    s
}

#[test]
fn each_tile_shows_its_own_video_in_its_place() {
    let (w, h) = (120, 40);
    let buf = draw(&two_people(), w, h);
    // The view's geometry: status bar, bottom bar, list of 30 columns on the right.
    let videos = Rect::new(0, 1, w - 30, h - 2);
    let tiles = layout::grid(videos, 3);
    let red = cells_of(&buf, inner(tiles[1]), Rgb::new(255, 0, 0));
    let blue = cells_of(&buf, inner(tiles[0]), Rgb::new(0, 0, 255));
    assert!(red > 100, "Ada's tile has {red} red cells");
    assert!(blue > 100, "our tile has {blue} blue cells");
    assert_eq!(
        cells_of(&buf, inner(tiles[0]), Rgb::new(255, 0, 0)),
        0,
        "no red outside Ada's tile"
    );
    assert_eq!(cells_of(&buf, inner(tiles[2]), Rgb::new(255, 0, 0)), 0);
    let screen = text(&buf);
    assert!(screen.contains("Ada · live"), "{screen}");
    assert!(screen.contains("bob-id · connecting"));
    assert!(screen.contains("connecting…"));
    assert!(screen.contains("Me (you)"));
    assert!(screen.contains("127.0.0.1:3000 CSC342"));
    assert!(screen.contains("you: Me (01234567)"));
    assert!(screen.contains("3 here"));
}

#[test]
fn focus_fills_the_video_area_with_the_selected_participant() {
    let mut s = two_people();
    s.apply(Action::Focus);
    let (w, h) = (120, 40);
    let buf = draw(&s, w, h);
    let videos = Rect::new(0, 1, w - 30, h - 2);
    let red = cells_of(&buf, inner(videos), Rgb::new(255, 0, 0));
    assert!(red > 1500, "focused tile has only {red} red cells");
    assert_eq!(
        cells_of(&buf, inner(videos), Rgb::new(0, 0, 255)),
        0,
        "our own tile is hidden"
    );
    s.apply(Action::Unfocus);
    assert!(cells_of(&draw(&s, w, h), inner(videos), Rgb::new(0, 0, 255)) > 0);
}

#[test]
fn the_grid_reflows_for_many_participants() {
    let mut s = State::new("x", ColorMode::TrueColor);
    for i in 0..7 {
        let p = s.room.upsert(&format!("peer{i}"));
        p.state = TileState::Live;
        p.frame = solid(Rgb::new(0, 255, 0));
    }
    let buf = draw(&s, 160, 50);
    let screen = text(&buf);
    for i in 0..7 {
        assert!(
            screen.contains(&format!("peer{i} · live")),
            "peer{i} missing:\n{screen}"
        );
    }
    let videos = Rect::new(0, 1, 130, 48);
    for t in layout::grid(videos, 8).iter().skip(1) {
        assert!(cells_of(&buf, inner(*t), Rgb::new(0, 255, 0)) > 20, "{t:?}");
    }
}

#[test]
fn hostile_names_never_reach_the_terminal_as_control_characters() {
    let mut s = two_people();
    s.room
        .participant_mut("ada-id")
        .unwrap()
        .set_name("\u{1b}]0;pwned\u{7}\u{1b}[2J");
    s.notify("server says \u{1b}[31mhi");
    let buf = draw(&s, 120, 40);
    for cell in buf.content() {
        assert!(
            !cell.symbol().chars().any(char::is_control),
            "{:?}",
            cell.symbol()
        );
    }
    assert!(text(&buf).contains("\u{fffd}]0;pwned"));
}

#[test]
fn the_help_overlay_lists_the_keys() {
    let mut s = two_people();
    s.apply(Action::ToggleHelp);
    let screen = text(&draw(&s, 100, 30));
    assert!(
        screen.contains("save the selected video frame as PNG"),
        "{screen}"
    );
    assert!(screen.contains("leave the space"));
}

/// At every size, from 1x1 up: only printable cells; the status line (cut to the width)
/// on top when there is room for it; with the help open, its title or all of its lines;
/// with it closed, our picture (blue) and Ada's (red) wherever a picture fits.
#[test]
fn any_terminal_size_renders() {
    let first_row = |buf: &Buffer| text(buf).lines().next().unwrap().to_string();
    let status = first_row(&draw(&two_people(), 300, 100));
    assert!(
        status.starts_with(" packspaces │ 127.0.0.1:3000 CSC342 │ you: Me (01234567)"),
        "{status}"
    );
    // (width, height, least blue cells, least red cells, help: its title / all of it)
    for (w, h, blue, red, help) in [
        (1, 1, 0, 0, ""),
        (2, 3, 0, 0, ""),
        (10, 3, 0, 0, "keys (E"),
        (30, 5, 3, 0, "keys (Esc closes)"),
        (69, 20, 100, 100, "q / Ctrl-C  leave the space"),
        (70, 20, 100, 100, "q / Ctrl-C  leave the space"),
        (300, 100, 5000, 5000, "q / Ctrl-C  leave the space"),
    ] {
        for show_help in [false, true] {
            let mut s = two_people();
            s.show_help = show_help;
            let buf = draw(&s, w, h);
            let screen = text(&buf);
            let ctx = format!("{w}x{h}, help {show_help}:\n{screen}");
            assert_eq!(buf.area, Rect::new(0, 0, w, h), "{ctx}");
            assert!(
                buf.content()
                    .iter()
                    .all(|c| !c.symbol().is_empty() && !c.symbol().chars().any(char::is_control)),
                "{ctx}"
            );
            assert!(screen.chars().any(|c| !c.is_whitespace()), "blank: {ctx}");
            if h >= 3 {
                let top: String = status.chars().take(usize::from(w)).collect();
                assert_eq!(first_row(&buf), top, "{ctx}");
            }
            if show_help {
                assert!(
                    help.is_empty() || screen.contains(help),
                    "no {help:?}: {ctx}"
                );
            } else {
                let (b, r) = (
                    cells_of(&buf, buf.area, Rgb::new(0, 0, 255)),
                    cells_of(&buf, buf.area, Rgb::new(255, 0, 0)),
                );
                assert!(b >= blue && r >= red, "blue {b}, red {r}: {ctx}");
            }
        }
    }
}

/// `n` live participants `peer0`… whose pictures have their own colours.
fn class(n: usize) -> State {
    let mut s = State::new("x", ColorMode::TrueColor);
    for i in 0..n {
        let p = s.room.upsert(&format!("peer{i}"));
        p.state = TileState::Live;
        p.frame = solid(shade(i));
    }
    s
}

fn shade(i: usize) -> Rgb {
    Rgb::new((40 + i * 7) as u8, 200, (250 - i * 5) as u8)
}

#[test]
fn a_class_pages_through_legible_tiles_and_the_list_follows_the_selection() {
    let (w, h) = (120, 30);
    let mut s = class(30);
    s.per_page = view::tiles_per_page(w, h);
    let videos = Rect::new(0, 1, w - 30, h - 2);
    assert_eq!(s.per_page, layout::tiles_per_page(videos));
    assert!(s.per_page < 31, "30 people cannot fit legibly at {w}x{h}");
    let pages = 31usize.div_ceil(s.per_page);
    let mut seen = Vec::new();
    for page in 0..pages {
        let buf = draw(&s, w, h);
        let screen = text(&buf);
        assert!(
            screen.contains(&format!("page {}/{pages}", page + 1)),
            "page {page}:\n{screen}"
        );
        // Every tile on the page is at least the legible minimum and shows its picture.
        let first = page * s.per_page;
        let shown: Vec<usize> = (first..31.min(first + s.per_page)).collect();
        let tiles = layout::grid(videos, shown.len());
        for (tile, item) in tiles.iter().zip(&shown) {
            assert!(
                tile.width >= layout::MIN_TILE.0 - 1 && tile.height >= layout::MIN_TILE.1 - 1,
                "{tile:?} too small"
            );
            if *item > 0 {
                let i = item - 1;
                assert!(
                    cells_of(&buf, inner(*tile), shade(i)) > 20,
                    "peer{i} not in its tile {tile:?} on page {page}"
                );
                seen.push(i);
            }
        }
        // The selected one (the first on the page) is marked in the list, scrolled to it.
        let marked = screen
            .lines()
            .find(|l| l.contains('▶'))
            .unwrap_or_else(|| panic!("no selection in the list:\n{screen}"));
        assert!(marked.contains(&format!("peer{} ", s.selected)), "{marked}");
        s.apply(Action::NextPage);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..30).collect::<Vec<_>>(), "everyone on some page");
    // Past the last page nothing changes; PgUp goes back.
    assert_eq!(s.page, pages - 1);
    s.apply(Action::PreviousPage);
    assert_eq!(s.page, pages - 2);
    // Selecting someone on another page shows that page.
    for _ in 0..29 {
        s.apply(Action::Next);
    }
    assert_eq!(s.page, (s.selected + 1) / s.per_page);
    let screen = text(&draw(&s, w, h));
    assert!(
        screen.contains(&format!("peer{} · live", s.selected)),
        "{screen}"
    );
}

#[test]
fn following_the_speaker_zooms_whoever_speaks() {
    let mut s = class(12);
    s.per_page = view::tiles_per_page(120, 30);
    // Off: speaking changes nothing.
    s.room.participants[7].speaking = true;
    assert!(!s.follow());
    assert!(!s.focused);
    s.apply(Action::ToggleFollow);
    assert!(s.follow_speaker && s.focused);
    assert_eq!(s.selected, 7);
    let buf = draw(&s, 120, 30);
    let screen = text(&buf);
    assert!(screen.contains("peer7 ♪ · live"), "{screen}");
    assert!(screen.contains("following the speaker"), "{screen}");
    assert!(
        cells_of(&buf, Rect::new(1, 2, 88, 26), shade(7)) > 500,
        "peer7 fills the video area"
    );
    // Someone else speaks while peer7 still does: peer7 stays.
    s.room.participants[3].speaking = true;
    assert!(!s.follow());
    assert_eq!(s.selected, 7);
    // peer7 stops: peer3 gets the screen; when everyone is silent, peer3 stays.
    s.room.participants[7].speaking = false;
    assert!(s.follow());
    assert_eq!(s.selected, 3);
    s.room.participants[3].speaking = false;
    assert!(!s.follow());
    assert_eq!(s.selected, 3);
    // `a` again: back to choosing by hand.
    s.apply(Action::ToggleFollow);
    s.room.participants[9].speaking = true;
    assert!(!s.follow());
    assert_eq!(s.selected, 3);
}

/// A chat line as the space client hands it over.
fn chat_line(from: &str, name: Option<&str>, text: &str) -> packspaces::space::ChatLine {
    packspaces::space::ChatLine {
        from: from.into(),
        name: name.map(str::to_string),
        text: text.into(),
        time: Some("2026-12-02T10:04:05Z".into()),
    }
}

#[test]
fn chat_lines_show_safely_in_the_pane_and_count_as_unread_while_it_is_closed() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |s: &State, code| s.action_for(KeyEvent::new(code, KeyModifiers::NONE));
    let mut s = two_people();
    s.room.chat.available = true;
    s.take_chat(&chat_line(
        "ada-id",
        Some("Ada"),
        "<b>hello</b>\u{1b}[2J\u{7}",
    ));
    s.take_chat(&chat_line("bob-id", None, "second"));
    s.take_chat(&chat_line("0123456789abcdef", Some("Me"), "mine"));
    assert_eq!(s.room.chat.unread, 2, "our own line is not unread");
    let closed = text(&draw(&s, 120, 36));
    assert!(closed.contains("chat: 2 unread (c)"), "{closed}");
    assert!(!closed.contains("<b>hello</b>"), "the pane is closed");

    // `c` opens it: the lines, with who and when, as inert text.
    let open = key(&s, KeyCode::Char('c')).unwrap();
    assert_eq!(s.apply(open), None);
    assert!(s.chat_open && s.room.chat.unread == 0);
    let buf = draw(&s, 120, 36);
    let shown = text(&buf);
    assert!(
        shown.contains("10:04 Ada: <b>hello</b>\u{fffd}[2J\u{fffd}"),
        "{shown}"
    );
    assert!(shown.contains("10:04 bob-id: second"), "{shown}");
    assert!(shown.contains("10:04 you: mine"), "{shown}");
    assert!(!shown.contains("unread"), "{shown}");
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let symbol = buf[(x, y)].symbol();
            assert!(
                !symbol.chars().any(|c| c.is_control()),
                "control character at {x},{y}"
            );
        }
    }

    // Keys type now: `q` is a letter, Enter sends, Esc closes.
    for c in "q?".chars() {
        let typed = key(&s, KeyCode::Char(c)).unwrap();
        s.apply(typed);
    }
    assert_eq!(s.chat_input, "q?");
    assert!(text(&draw(&s, 120, 36)).contains("> q?"));
    let send = key(&s, KeyCode::Enter).unwrap();
    assert_eq!(
        s.apply(send),
        Some(packspaces::ui::Effect::Say("q?".into()))
    );
    assert!(s.chat_input.is_empty());
    let close = key(&s, KeyCode::Esc).unwrap();
    s.apply(close);
    assert!(!s.chat_open);
    assert_eq!(
        key(&s, KeyCode::Char('q')),
        Some(Action::Quit),
        "the grid's keys are back"
    );
}

#[test]
fn the_chat_scrolls_back_and_fits_narrow_screens() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut s = two_people();
    s.room.chat.available = true;
    for i in 0..60 {
        s.take_chat(&chat_line("ada-id", Some("Ada"), &format!("line {i:02}")));
    }
    s.apply(Action::OpenChat);
    let newest = text(&draw(&s, 120, 36));
    assert!(
        newest.contains("line 59") && !newest.contains("line 10"),
        "{newest}"
    );
    let page_up = s
        .action_for(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE))
        .unwrap();
    for _ in 0..10 {
        s.apply(page_up);
    }
    let oldest = text(&draw(&s, 120, 36));
    assert!(
        oldest.contains("line 00") && !oldest.contains("line 59"),
        "{oldest}"
    );
    assert!(oldest.contains("lines back"), "{oldest}");
    // A line arriving while reading back keeps the view where it is.
    s.take_chat(&chat_line("ada-id", Some("Ada"), "line 60"));
    assert!(text(&draw(&s, 120, 36)).contains("line 00"));
    // Too narrow for a side column: the pane covers the videos' lower half, and a long
    // line wraps inside it.
    s.chat_scroll = 0;
    s.take_chat(&chat_line("ada-id", Some("Ada"), &"word ".repeat(30)));
    let narrow = text(&draw(&s, 50, 24));
    assert!(narrow.contains("Ada: word word"), "{narrow}");
    assert!(
        narrow.matches("word").count() > 20,
        "wrapped, not cut: {narrow}"
    );
}

#[test]
fn the_chat_pane_renders_at_any_size() {
    let mut s = two_people();
    s.room.chat.available = true;
    for i in 0..30 {
        s.take_chat(&chat_line(
            "ada-id",
            Some("Ada"),
            &format!("line {i} 名前 ✓ {}", "x".repeat(i * 7)),
        ));
    }
    s.apply(Action::OpenChat);
    s.chat_input = "typed 名前 ".repeat(40);
    for (w, h) in [
        (1, 1),
        (2, 3),
        (10, 3),
        (30, 5),
        (69, 20),
        (70, 20),
        (300, 100),
    ] {
        let buf = draw(&s, w, h);
        let screen = text(&buf);
        assert!(
            buf.content()
                .iter()
                .all(|c| !c.symbol().chars().any(char::is_control)),
            "{w}x{h}:\n{screen}"
        );
        if w >= 30 && h >= 5 {
            assert!(
                screen.contains("> "),
                "the line being typed shows at {w}x{h}:\n{screen}"
            );
        }
        if h >= 20 {
            assert!(
                screen.contains("line 29"),
                "the newest line shows at {w}x{h}:\n{screen}"
            );
        }
    }
}

#[test]
fn without_a_chat_server_the_pane_says_so_and_sends_nothing() {
    let mut s = two_people();
    s.apply(Action::OpenChat);
    s.apply(Action::ChatType('h'));
    assert_eq!(s.apply(Action::ChatSend), None);
    assert!(s.notice.as_deref().unwrap().contains("chat unavailable"));
    assert!(text(&draw(&s, 120, 36)).contains("chat unavailable"));
}
