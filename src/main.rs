//! The `packspaces` binary: parse arguments, set up logging and the panic hook, dispatch.

use std::process::ExitCode;

use clap::Parser;
use packspaces::cli::{Cli, Command};
use packspaces::{logging, play, terminal};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_file.as_deref()) {
        eprintln!("packspaces: {e:#}");
        return ExitCode::from(2);
    }
    terminal::install_panic_hook();
    let result = match cli.command {
        Command::Play(args) => play::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            terminal::restore();
            tracing::error!("{e:#}");
            eprintln!("packspaces: {e:#}");
            ExitCode::FAILURE
        }
    }
}
