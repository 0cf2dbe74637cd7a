//! A child as the supervisor sees it: its generation, its pid and where
//! it is in its life.

use std::time::{Duration, Instant};

use super::types::{Generation, Status, Waiter, Who};

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
    /// Where it was seen listening while it started; kept, to name the
    /// process that serves once the first one has exited.
    pub waiter: Option<Waiter>,
    /// How its first process exited, while its process group runs on.
    pub first_exited: Option<Status>,
    /// Whether that was after the stop signal: then the line that says it
    /// stopped still names its first process, which did stop.
    pub exited_on_stop: bool,
    /// How the process seen serving exited, once its first process had
    /// gone (Linux, where systemfd inherits it): what the line that says
    /// the group ended tells, rather than only the first process's exit.
    pub server_exited: Option<(u32, Status)>,
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

    /// How the line that says it stopped names it: as [`Child::who`], but
    /// by its first process when that exited on the stop signal.
    pub fn who_stopped(&self) -> Who {
        match self.exited_on_stop {
            true => Who::Pid(self.pid()),
            false => self.who(),
        }
    }

    /// How a line names it: by its first process while that runs, else by
    /// the process seen serving in its group, else by the group.
    pub fn who(&self) -> Who {
        let group = self.pid();
        match (self.first_exited, self.waiter) {
            (None, _) => Who::Pid(group),
            (Some(_), Some(waiter)) if waiter.pid != group => Who::Server {
                pid: waiter.pid,
                group,
            },
            (Some(_), _) => Who::Group(group),
        }
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
