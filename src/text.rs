//! Untrusted text (names, ids, server messages) made safe for the terminal.

/// Replaces control characters (C0, DEL, C1, and the bidi overrides that can reorder what a
/// terminal shows) with U+FFFD and cuts the text to `max_chars` characters.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| if is_unsafe(c) { '\u{fffd}' } else { c })
        .collect()
}

/// A character that must never reach a terminal (or reorder a page's text).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_pass() {
        assert_eq!(sanitize("Ada", 40), "Ada");
        assert_eq!(
            sanitize("a\x1b[2Jb\x07\u{9b}c", 40),
            "a\u{fffd}[2Jb\u{fffd}\u{fffd}c"
        );
        assert_eq!(sanitize("x\u{202e}y\n", 40), "x\u{fffd}y\u{fffd}");
        assert_eq!(sanitize("ééé", 2), "éé");
    }
}
