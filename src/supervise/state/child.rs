//! A child as the supervisor sees it: its generation, its pid and where
//! it is in its life.

use std::time::{Duration, Instant};

use super::types::{Generation, Status, Waiter};

/// Where a child is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Started; not ready yet.
    Starting,
    /// Ready: it serves.
    Ready,
    /// Handed over at `since`: it gets the stop signal once it holds no
    /// connection (asked again at `next`), or once the grace period is over.
    /// At the last check it held `held` connections.
    Draining {
        since: Instant,
        next: Instant,
        held: usize,
    },
    /// Sent the stop signal at `since`; `killed` once SIGKILL followed.
    Stopping { since: Instant, killed: bool },
    /// Exited on its own.
    Exited(Status),
}

/// One child, as the supervisor sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    pub generation: Generation,
    /// Known once the start succeeded.
    pub pid: Option<u32>,
    pub state: State,
    pub started: Instant,
    /// While starting: when it sent `READY=1`.
    pub notified: Option<Instant>,
    /// While starting: where it was seen listening.
    pub waiter: Option<Waiter>,
    /// While starting and looked at: when to look next.
    pub next_look: Option<Instant>,
    /// What started it (a change, SIGHUP); `None` for the first start.
    pub trigger: Option<String>,
}

impl Child {
    /// Whether it has not exited.
    pub fn is_running(&self) -> bool {
        !matches!(self.state, State::Exited(_))
    }

    /// Its pid, 0 while it has none.
    pub fn pid(&self) -> u32 {
        self.pid.unwrap_or(0)
    }
}

/// When a grace period of `grace` that starts at `since` ends: at the
/// latest a day after `since`.
pub fn grace_end(since: Instant, grace: Duration) -> Instant {
    since
        .checked_add(grace)
        .or_else(|| since.checked_add(Duration::from_secs(24 * 60 * 60)))
        .unwrap_or(since)
}
