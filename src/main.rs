//! The `packspaces` binary: parse arguments, set up logging and the panic hook, dispatch.

use std::process::ExitCode;

use clap::Parser;
use packspaces::cli::ServeArgs;
use packspaces::cli::{Cli, Command};
use packspaces::server::{self, ServeOptions};
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
        Command::Serve(args) => run_async(server::run(serve_options(args))),
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

/// Runs a future on a multi-threaded tokio runtime (the commands that do network I/O).
fn run_async(future: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

fn serve_options(args: ServeArgs) -> ServeOptions {
    let mut options = ServeOptions::new(args.bind, args.port);
    if let Some(script) = args.peerjs_script {
        options.page.peerjs_script = script;
    }
    if let Some(script) = args.socketio_script {
        options.page.socketio_script = script;
    }
    options.page.ice_servers = args.ice_servers;
    options.static_dir = args.static_dir;
    options
}
