//! packspaces: a terminal client for PackSpaces classroom video spaces.
//!
//! The binary's subcommands live in [`cli`]; everything else is a library so that tests and
//! benchmarks drive the same code the binary runs, and so that its parts can be used on
//! their own.
//!
//! # The parts
//!
//! - **Drawing video in a terminal** — [`render`] turns I420 or RGB frames into half-block
//!   cells (area-averaged, letterboxed, truecolor / 256 / 16 colours) and
//!   [`render::AnsiPainter`] into the fewest bytes that update a screen, within a hard byte
//!   cap. Pure: no I/O. [`output::ScreenOutput`] puts it together with ratatui for a whole
//!   screen: chrome, pictures, one synchronized write per frame, caps per frame and per
//!   second, and a rate that follows the link the terminal is watched through.
//! - **Talking to a classroom space** — [`space`] is a small Socket.IO client for a space
//!   (`join-space`, who comes and goes), found from the page URL alone by [`discover`];
//!   [`peerjs::client`] a PeerJS client (id, signaling,
//!   heartbeats, reconnects); [`call`] the WebRTC calls (webrtc-rs) with browsers, both
//!   directions, with [`call::CallManager`] deciding who calls whom (sans-I/O); [`session`]
//!   ties them together and keeps the [`model::Room`] (inside a [`ui::State`]) up to date,
//!   with what the media side reports through the [`feed`].
//! - **Media** — [`media`]: file readers (y4m, IVF, Annex B), H.264 and VP8 decoding and
//!   encoding, the test card, cameras and clips we send; [`audio`]: jitter buffer, mixer,
//!   Opus and sound devices (feature `audio`).
//! - **The screens** — [`ui`] (the conference: state, keys, a pure view), [`join`],
//!   [`demo`], [`monitor`], [`play`], with [`terminal`] keeping the terminal sane and
//!   [`cast`] recording what a screen showed (`--record`) and playing it back.
//! - **The server** — [`server`]: `packspaces serve`, a Socket.IO rooms backend, a
//!   PeerJS-compatible PeerServer and the browser page, on one port, over HTTPS with
//!   [`tls`] (which also decides what clients trust: `--ca`, `--pin`).
//!
//! A PeerJS offer's way: [`peerjs::client`] checks the server's message and hands a
//! [`peerjs::client::SignalEvent`] to the [`session`], whose [`call::CallManager`] decides to
//! answer it (replacing an older call with that peer, or not, in glare) and which waiting
//! candidates follow; the session starts the webrtc call ([`call::answer`]), which negotiates
//! and sends our answer back through the PeerJS client.
//!
//! A frame's way from the network to a cell: [`call`] receives RTP and decodes it to an
//! [`render::I420Frame`] which it hands to the [`feed`] (the newest frame wins); the
//! [`session`]'s runner moves it into its participant's slot in the [`model::Room`];
//! [`ui::view::render`] reserves the tile's cells as a [`render::VideoSlot`], and
//! [`output::ScreenOutput`] paints it there.
//!
//! A key press's way: [`terminal`]'s input thread decodes it, `join` turns it into a
//! [`ui::Action`] ([`ui::action_for_key`]), [`ui::State::apply`] changes the state and
//! may return an [`ui::Effect`] (quit, save a frame, apply the media switches), and the
//! answer is drawn at once, ahead of the next video frame.

pub mod audio;
pub mod bot;
pub mod call;
pub mod cast;
pub mod cli;
pub mod contain;
pub mod demo;
pub mod discover;
pub mod feed;
// Fuzz entry points (`fuzz/`, FUZZING.md): public so that tests replay them on stable.
#[doc(hidden)]
pub mod fuzzing;
pub mod ice;
pub mod join;
pub mod logging;
pub mod media;
pub mod model;
pub mod monitor;
pub mod net;
pub mod output;
pub mod peerjs;
pub mod play;
pub mod render;
pub mod server;
pub mod session;
pub mod signals;
pub mod space;
pub mod terminal;
pub mod text;
pub mod tls;
pub mod ui;
