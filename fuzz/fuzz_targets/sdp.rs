//! Fuzzes `packspaces::fuzzing::sdp` (its input format is documented there).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| packspaces_fuzz::run(packspaces::fuzzing::sdp, data));
