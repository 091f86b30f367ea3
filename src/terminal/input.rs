//! Keys from the terminal, read as bytes and decoded here rather than by crossterm: the
//! terminal's answers to our status requests (`ESC[0n`, see `crate::output::link`) must
//! reach the output, and crossterm's reader drops them as unparsable. The decoder is pure
//! (bytes in, [`Input`]s out) and knows what terminals send for the keys we use: text,
//! Enter, Tab, Backspace, Esc, Ctrl-letter, arrows, Home/End, PgUp/PgDn, Insert/Delete and
//! F1-F12, in their CSI and SS3 forms, with modifiers.

use std::io::Read;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc;

/// What the terminal sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Key(KeyEvent),
    /// The answer to a device status request: everything written before it was shown.
    StatusReport,
    /// The terminal is gone (end of input or a read error: the SSH link dropped).
    Closed,
}

/// The keys that leave a screen with no other keys (`monitor`, `play`): q, Esc, Ctrl-C.
pub fn is_quit_key(key: KeyEvent) -> bool {
    key.kind != KeyEventKind::Release
        && match key.code {
            KeyCode::Char('q') | KeyCode::Esc => true,
            KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
            _ => false,
        }
}

/// Longest escape sequence kept while waiting for its end; longer ones are dropped.
const MAX_SEQUENCE: usize = 64;

/// Turns the terminal's bytes into inputs. Sequences split across reads are completed by
/// the next read; an ESC that ends a read is the Esc key (terminals send a sequence in one
/// write, so a lone ESC is a key press).
#[derive(Debug, Default)]
pub struct InputDecoder {
    pending: Vec<u8>,
}

impl InputDecoder {
    pub fn new() -> InputDecoder {
        InputDecoder::default()
    }

    /// Decodes `bytes` (after anything left over from the last call) into `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Input>) {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        while at < self.pending.len() {
            match decode(&self.pending[at..]) {
                Step::Done(used, input) => {
                    out.extend(input);
                    at += used;
                }
                Step::NeedMore => break,
            }
        }
        self.pending.drain(..at);
        if self.pending.len() > MAX_SEQUENCE {
            self.pending.clear();
        }
    }
}

enum Step {
    /// This many bytes made this input (or nothing we use).
    Done(usize, Option<Input>),
    /// The bytes so far start a sequence that continues in the next read.
    NeedMore,
}

fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<Input> {
    Some(Input::Key(KeyEvent::new(code, modifiers)))
}

fn decode(b: &[u8]) -> Step {
    let none = KeyModifiers::NONE;
    match b[0] {
        0x1b => match b.get(1) {
            None => Step::Done(1, key(KeyCode::Esc, none)),
            Some(b'[') => csi(b),
            Some(b'O') => match b.get(2) {
                None => Step::NeedMore,
                Some(&c) => Step::Done(3, ss3(c).and_then(|code| key(code, none))),
            },
            Some(0x1b) => Step::Done(1, key(KeyCode::Esc, none)),
            Some(_) => match decode(&b[1..]) {
                Step::Done(used, Some(Input::Key(mut k))) => {
                    k.modifiers |= KeyModifiers::ALT;
                    Step::Done(used + 1, Some(Input::Key(k)))
                }
                Step::Done(used, other) => Step::Done(used + 1, other),
                Step::NeedMore => Step::NeedMore,
            },
        },
        b'\r' | b'\n' => Step::Done(1, key(KeyCode::Enter, none)),
        b'\t' => Step::Done(1, key(KeyCode::Tab, none)),
        0x7f | 0x08 => Step::Done(1, key(KeyCode::Backspace, none)),
        0x00 => Step::Done(1, key(KeyCode::Char(' '), KeyModifiers::CONTROL)),
        c @ 0x01..=0x1a => Step::Done(
            1,
            key(KeyCode::Char((b'a' + c - 1) as char), KeyModifiers::CONTROL),
        ),
        c if c < 0x20 => Step::Done(1, None),
        c => {
            let len = match c {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => return Step::Done(1, None),
            };
            if b.len() < len {
                return Step::NeedMore;
            }
            match std::str::from_utf8(&b[..len])
                .ok()
                .and_then(|s| s.chars().next())
            {
                Some(ch) => {
                    let modifiers = if ch.is_uppercase() {
                        KeyModifiers::SHIFT
                    } else {
                        none
                    };
                    Step::Done(len, key(KeyCode::Char(ch), modifiers))
                }
                None => Step::Done(1, None),
            }
        }
    }
}

/// `ESC [ params intermediates final`.
fn csi(b: &[u8]) -> Step {
    let Some(end) = b[2..].iter().position(|c| (0x40..=0x7e).contains(c)) else {
        // Not finished yet, unless a byte that cannot be in a CSI shows it is garbage.
        return match b[2..].iter().position(|c| !(0x20..=0x3f).contains(c)) {
            Some(bad) => Step::Done(2 + bad, None),
            None => Step::NeedMore,
        };
    };
    let end = 2 + end;
    let used = end + 1;
    let params = std::str::from_utf8(&b[2..end]).unwrap_or("");
    let fin = b[end];
    let mut fields = params.split(';');
    let first: Option<u16> = fields.next().and_then(|p| p.parse().ok());
    let modifiers = fields
        .next()
        .and_then(|m| m.split(':').next()?.parse::<u8>().ok())
        .map_or(KeyModifiers::NONE, modifiers_from);
    let code = match fin {
        b'n' if params == "0" => return Step::Done(used, Some(Input::StatusReport)),
        b'A' => Some(KeyCode::Up),
        b'B' => Some(KeyCode::Down),
        b'C' => Some(KeyCode::Right),
        b'D' => Some(KeyCode::Left),
        b'H' => Some(KeyCode::Home),
        b'F' => Some(KeyCode::End),
        b'Z' => {
            return Step::Done(used, key(KeyCode::BackTab, KeyModifiers::SHIFT | modifiers));
        }
        b'P' | b'Q' | b'S' if !params.starts_with('?') => ss3(fin),
        b'~' => match first {
            Some(1 | 7) => Some(KeyCode::Home),
            Some(2) => Some(KeyCode::Insert),
            Some(3) => Some(KeyCode::Delete),
            Some(4 | 8) => Some(KeyCode::End),
            Some(5) => Some(KeyCode::PageUp),
            Some(6) => Some(KeyCode::PageDown),
            Some(n @ 11..=15) => Some(KeyCode::F((n - 10) as u8)),
            Some(n @ 17..=21) => Some(KeyCode::F((n - 11) as u8)),
            Some(n @ 23..=24) => Some(KeyCode::F((n - 12) as u8)),
            _ => None,
        },
        // Cursor position reports, focus, mouse and anything else we never asked for.
        _ => None,
    };
    Step::Done(used, code.and_then(|c| key(c, modifiers)))
}

/// The key of `ESC O c` (and of `ESC [ 1 ; m c` for P, Q, S).
fn ss3(c: u8) -> Option<KeyCode> {
    Some(match c {
        b'A' => KeyCode::Up,
        b'B' => KeyCode::Down,
        b'C' => KeyCode::Right,
        b'D' => KeyCode::Left,
        b'H' => KeyCode::Home,
        b'F' => KeyCode::End,
        b'M' => KeyCode::Enter,
        b'P' => KeyCode::F(1),
        b'Q' => KeyCode::F(2),
        b'R' => KeyCode::F(3),
        b'S' => KeyCode::F(4),
        _ => return None,
    })
}

/// xterm's modifier parameter: 1 + shift(1) + alt(2) + ctrl(4).
fn modifiers_from(m: u8) -> KeyModifiers {
    let bits = m.saturating_sub(1);
    let mut k = KeyModifiers::NONE;
    if bits & 1 != 0 {
        k |= KeyModifiers::SHIFT;
    }
    if bits & 2 != 0 {
        k |= KeyModifiers::ALT;
    }
    if bits & 4 != 0 {
        k |= KeyModifiers::CONTROL;
    }
    k
}

/// Reads the terminal (stdin) on a thread of its own and sends what it decodes; sends
/// [`Input::Closed`] when input ends or fails (a hung-up terminal), then stops. The thread
/// also stops when the receiver is gone, at the next input.
pub fn spawn_reader(inputs: mpsc::Sender<Input>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("packspaces-input".into())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut decoder = InputDecoder::new();
            let mut buf = [0u8; 1024];
            let mut decoded = Vec::new();
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => 0,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => 0,
                };
                if n == 0 {
                    let _ = inputs.blocking_send(Input::Closed);
                    return;
                }
                decoder.feed(&buf[..n], &mut decoded);
                for input in decoded.drain(..) {
                    if inputs.blocking_send(input).is_err() {
                        return;
                    }
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<Input> {
        let mut d = InputDecoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            d.feed(chunk, &mut out);
        }
        out
    }

    fn k(code: KeyCode) -> Input {
        Input::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn q_esc_and_ctrl_c_quit() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(is_quit_key(key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(is_quit_key(key(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(is_quit_key(key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!is_quit_key(key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!is_quit_key(key(KeyCode::Tab, KeyModifiers::NONE)));
    }

    #[test]
    fn keys_decode_in_every_form_terminals_send() {
        assert_eq!(
            decode_all(&[b"q?\t\r\x1b[A\x1bOB\x1b[5~\x1b[6~\x1b[Z\x7f"]),
            vec![
                k(KeyCode::Char('q')),
                k(KeyCode::Char('?')),
                k(KeyCode::Tab),
                k(KeyCode::Enter),
                k(KeyCode::Up),
                k(KeyCode::Down),
                k(KeyCode::PageUp),
                k(KeyCode::PageDown),
                Input::Key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)),
                k(KeyCode::Backspace),
            ]
        );
        assert_eq!(
            decode_all(&[b"\x03"]),
            vec![Input::Key(KeyEvent::new(
                KeyCode::Char('c'),
                KeyModifiers::CONTROL
            ))]
        );
        assert_eq!(
            decode_all(&[b"\x1b[1;5C\x1bOP\x1b[15~"]),
            vec![
                Input::Key(KeyEvent::new(KeyCode::Right, KeyModifiers::CONTROL)),
                k(KeyCode::F(1)),
                k(KeyCode::F(5)),
            ]
        );
        assert_eq!(decode_all(&["é".as_bytes()]), vec![k(KeyCode::Char('é'))]);
    }

    #[test]
    fn a_lone_escape_is_the_key_and_split_sequences_join_up() {
        assert_eq!(decode_all(&[b"\x1b"]), vec![k(KeyCode::Esc)]);
        assert_eq!(decode_all(&[b"\x1b[", b"A"]), vec![k(KeyCode::Up)]);
        assert_eq!(
            decode_all(&[b"\x1b[0", b"n", &[0xc3], &[0xa9]]),
            vec![Input::StatusReport, k(KeyCode::Char('é'))]
        );
    }

    #[test]
    fn status_answers_are_reported_and_other_replies_ignored() {
        assert_eq!(
            decode_all(&[b"\x1b[0n\x1b[12;40R\x1b[?62;22c\x1b[I x"]),
            vec![
                Input::StatusReport,
                k(KeyCode::Char(' ')),
                k(KeyCode::Char('x'))
            ]
        );
    }

    #[test]
    fn garbage_never_panics_and_never_grows_the_buffer() {
        let mut d = InputDecoder::new();
        let mut out = Vec::new();
        let mut seed = 0x1234_5678u32;
        for _ in 0..2000 {
            let chunk: Vec<u8> = (0..(seed % 37))
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed % 256) as u8
                })
                .collect();
            d.feed(&chunk, &mut out);
            assert!(d.pending.len() <= MAX_SEQUENCE);
        }
        // An endless parameter list is dropped, and keys after it still decode.
        d.feed(b"\x1b[", &mut out);
        d.feed(&[b'1'; 200], &mut out);
        out.clear();
        d.feed(b"\x1b[0n", &mut out);
        d.feed(b"q", &mut out);
        assert!(out.contains(&k(KeyCode::Char('q'))), "{out:?}");
    }
}
