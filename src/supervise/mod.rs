//! Supervise mode (`-w`): systemfd stays the parent, keeps the sockets, and
//! restarts COMMAND when watched files change or on SIGHUP.
//!
//! The restart decisions are plain Rust in [`state`]; `event_loop` feeds
//! them with what happens and carries out what they say.

mod children;
mod event_loop;
mod state;
mod terminal;

pub use event_loop::run;
