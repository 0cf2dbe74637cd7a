//! Supervise mode (`-w`): systemfd stays the parent, keeps the sockets, and
//! restarts COMMAND when watched files change or on SIGHUP.
//!
//! The restart decisions are plain Rust in [`state`]; the flags' values are
//! parsed in [`options`]. On Unix, `event_loop` feeds the decisions with what
//! happens and carries out what they say.

pub mod options;
pub mod state;

#[cfg(unix)]
mod event_loop;

#[cfg(unix)]
pub use event_loop::run;
