//! Video frames to terminal cells: half-block (▀) scaling, colour modes, diffing output.
//!
//! Pure functions and plain data, no I/O: [`scale`] turns a frame into a [`CellGrid`],
//! [`ansi::AnsiPainter`] turns successive grids into the bytes for a terminal, and
//! [`widget`] draws the same grids inside a ratatui UI.

pub mod ansi;
pub mod color;
pub mod frame;
pub mod scale;
pub mod widget;

pub use ansi::AnsiPainter;
pub use color::{ColorMode, Paint};
pub use frame::{I420Frame, I420Planes, Rgb};
pub use scale::{CellColors, CellGrid, Fit, cells_from_i420, cells_from_rgb};
pub use widget::{HalfBlocks, VideoFrame, VideoSlot, draw_slots, reserve_video};
