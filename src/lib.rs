//! packspaces: a terminal client for PackSpaces classroom video spaces.
//!
//! The binary's subcommands live in [`cli`]; everything else is a library so that tests and
//! benchmarks drive the same code the binary runs.

pub mod audio;
pub mod bot;
pub mod call;
pub mod cli;
pub mod contain;
pub mod demo;
pub mod join;
pub mod logging;
pub mod media;
pub mod monitor;
pub mod net;
pub mod output;
pub mod peerjs;
pub mod play;
pub mod render;
pub mod server;
pub mod session;
pub mod space;
pub mod terminal;
pub mod text;
pub mod ui;
