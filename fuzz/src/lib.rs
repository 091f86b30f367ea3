//! What every fuzz target shares: a panic hook that tells a finding from a decoder panic
//! that `packspaces::contain::contain` already turns into an error (the program survives
//! those, so they must not stop the fuzzer either).

use std::collections::HashSet;
use std::sync::{Mutex, Once, PoisonError};

/// Runs `target` on one input, after installing the hook (once).
pub fn run(target: fn(&[u8]), data: &[u8]) {
    static HOOK: Once = Once::new();
    HOOK.call_once(install_hook);
    target(data);
}

/// libFuzzer's hook (installed before the first input) aborts on every panic. Contained
/// panics are printed once per place instead, for FUZZING.md, and fuzzing goes on.
fn install_hook() {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !packspaces::contain::is_containing() {
            abort(info);
            return;
        }
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.get_or_insert_with(HashSet::new).insert(place.clone()) {
            eprintln!("contained panic at {place}: {info}");
        }
    }));
}
