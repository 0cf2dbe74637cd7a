//! Supervise mode's vocabulary and restart decisions, as plain Rust.
//!
//! Nothing here touches a process, a clock or a file. [`Supervisor::handle`]
//! takes an [`Event`] and the current time and returns the [`Action`]s to
//! carry out; the event loop performs them and feeds back what happened. Every
//! decision is therefore testable without starting a process.
//!
//! Each child is a *generation* with a [`State`]. At most three roles exist
//! at once:
//! - the **active** child, the one serving (or the last one, once exited);
//! - a **replacement**, started by a restart while the active child is ready,
//!   which takes over once it is ready;
//! - **retiring** children, sent the stop signal and awaited (SIGKILL after
//!   the grace period).
//!
//! A child that hands over is not sent the stop signal at once: most
//! development servers die on it and reset the requests they are serving.
//! It *drains* first: the host is asked ([`Action::StopWhenIdle`]) at once
//! and then every [`types::DRAIN_CHECK`] to send the stop signal once no
//! process of the child's tree holds an accepted connection, and after the
//! grace period it gets the stop signal anyway. A host that cannot see
//! connections says so, and the child is stopped at once. Other stops (a
//! stop-first restart, a superseded replacement, shutdown) do not drain.
//!
//! A child is ready when it says so (`READY=1`) or, on Linux, when a process
//! of its tree is seen waiting for connections on a passed socket; which of
//! the two counts is the [`Readiness`] policy. On Windows a child is ready
//! once a process of its tree has fetched its sockets from the socket server. Seeing requires looking: while
//! a child starts, the supervisor asks for a look ([`Action::Look`]) at
//! growing intervals, and for none once every child is ready.
//!
//! A restart while a replacement is still starting supersedes it: the
//! unready replacement is stopped and a fresh one started, so the files of
//! the latest change are what ends up serving. A restart while a stop-first
//! restart waits for the old child to exit changes nothing: the pending start
//! will see the latest files anyway.
//!
//! The module is a front: [`types`] holds the vocabulary ([`Event`],
//! [`Action`], [`Policy`], …), `child` a child and its [`child::State`],
//! [`supervisor`] the decisions, and [`report`] the wording of every line
//! they produce, so each can change alone.

mod build;
#[cfg(test)]
mod build_tests;
mod child;
#[cfg(test)]
mod demand_tests;
mod event;
#[cfg(test)]
mod group_tests;
mod idle;
#[cfg(test)]
mod livereload_tests;
mod report;
mod supervisor;
#[cfg(test)]
mod tests;
mod types;

pub use event::{Action, Event};
pub use supervisor::Supervisor;
pub use types::{Drain, Generation, LiveStatus, Names, Outage, Policy, Status, Waiter};
