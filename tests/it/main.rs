//! Every integration test in one binary: one link of webrtc, axum and OpenH264 instead of
//! one per suite. Each module is a suite: `cargo test --test it browser_join::` runs one,
//! `cargo test --test it -- render_cells:: screen_output::` several.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

mod audio_e2e;
mod audio_no_card;
mod bad_peers;
mod bitrate_requests;
mod browser_audio;
mod browser_join;
mod camera;
mod chat;
mod cluster;
mod demo;
mod fuzz_corpus;
mod garbage_rtp;
mod https;
mod interop_node;
mod monitor;
mod one_address;
mod over_ssh;
mod peerjs_client;
mod play_files;
mod recording;
mod render_cells;
mod screen_output;
mod serve_cli;
mod session_e2e;
mod shaped_network;
mod soak;
mod space_client;
mod turn_relay;
mod ui_render;
