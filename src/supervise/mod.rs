//! Supervise mode (`-w`): systemfd stays the parent, keeps the sockets, and
//! restarts COMMAND when watched files change (or, on Unix, on SIGHUP).
//!
//! The restart decisions are plain Rust in [`state`], shared by every
//! platform. On Unix, `event_loop` feeds them with what happens and carries
//! out what they say, with `children` (process groups) and `terminal`; on
//! Windows, `windows` does, with a job object and a console process group
//! per child and the socket server.

#[cfg(unix)]
mod children;
#[cfg(unix)]
mod event_loop;
mod state;
#[cfg(unix)]
mod terminal;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub use event_loop::run;
#[cfg(windows)]
pub use windows::run;
