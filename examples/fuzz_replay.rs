//! Times fuzz inputs through a fuzz entry point in a plain build, without libFuzzer's
//! instrumentation: how long the program itself takes on an input the fuzzer flagged as slow.
//! bench/fuzz.sh uses it to tell a real hang (over 1 s here too) from an input that is slow
//! only under coverage tracing, which costs some decoders twenty times their speed.
//!
//! Usage: fuzz_replay TARGET FILE...   (prints `FILE ms` per file, the slowest of three runs)

use std::process::ExitCode;
use std::time::{Duration, Instant};

use packspaces::fuzzing::TARGETS;

/// Runs per file: the slowest is printed, so a quick run by luck cannot hide a slow input.
const RUNS: usize = 3;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(name), files) = (args.next(), args.collect::<Vec<_>>()) else {
        eprintln!("usage: fuzz_replay TARGET FILE...");
        return ExitCode::from(2);
    };
    let Some(&(_, target)) = TARGETS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!(
            "fuzz_replay: no target {name:?}; there are {}",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    for file in files {
        let data = match std::fs::read(&file) {
            Ok(data) => data,
            Err(e) => {
                eprintln!("fuzz_replay: cannot read {file}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let slowest = (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                target(&data);
                start.elapsed()
            })
            .max()
            .unwrap_or(Duration::ZERO);
        println!("{file} {}", slowest.as_millis());
    }
    ExitCode::SUCCESS
}
