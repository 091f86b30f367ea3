//! Runs third-party decoder code so that a panic on corrupt input becomes an error.
//!
//! Decoders see untrusted bytes from files and from the network. A panic inside one must
//! drop that frame, not the program; and the terminal's panic hook must not treat such a
//! contained panic as a crash, so it asks [`is_containing`] first.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

thread_local! {
    static CONTAINING: Cell<bool> = const { Cell::new(false) };
}

/// True while this thread runs code inside [`contain`].
pub fn is_containing() -> bool {
    CONTAINING.with(Cell::get)
}

/// Runs `f`; a panic inside it is returned as `Err(message)`.
/// The caller must treat whatever `f` touched as poisoned (e.g. recreate a decoder).
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let was = CONTAINING.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_the_flag_is_cleared() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r: Result<(), String> = contain(|| panic!("bad bitstream"));
        std::panic::set_hook(prev);
        assert_eq!(r, Err("bad bitstream".to_string()));
        assert!(!is_containing());
        assert_eq!(contain(|| 7), Ok(7));
    }
}
