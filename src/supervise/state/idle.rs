//! `--idle-stop`'s clock: when to count the connections of the child that
//! serves, and whether it has had none for the idle time.
//!
//! The supervisor decides which child is counted (the active one, ready,
//! with nothing else under way) and carries out the stop; this keeps the
//! times, so that a count that finds a connection, a child counted anew,
//! or one no longer counted starts the idle time afresh.

use std::time::{Duration, Instant};

use super::types::Generation;

/// While `--idle-stop` watches a child serving, its connections are
/// counted every tenth of the idle time, at least this far apart…
pub const IDLE_LOOK_MIN: Duration = Duration::from_millis(100);
/// … and at most this far apart: reading `/proc/net/tcp`, `tcp6` and
/// `unix` costs a line per socket of the machine.
pub const IDLE_LOOK_MAX: Duration = Duration::from_secs(1);

/// The count of one child's connections over time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Idle {
    /// The generation counted; 0 for none.
    generation: Generation,
    /// Since when it has had no connection, as far as the counts tell.
    quiet_since: Option<Instant>,
    /// When to count next.
    next: Option<Instant>,
}

impl Idle {
    /// Follows `counted`, the child to count now (`None`: none): a child
    /// counted anew is counted at once, from no idle time.
    pub fn follow(&mut self, counted: Option<Generation>, now: Instant) {
        match counted {
            Some(generation) if generation == self.generation => {}
            Some(generation) => {
                *self = Idle {
                    generation,
                    quiet_since: None,
                    next: Some(now),
                }
            }
            None => *self = Idle::default(),
        }
    }

    /// When the next count is due.
    pub fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Whether a count is due at `now`; if so, the one after is planned
    /// for an idle time of `after` (see [`look`]).
    pub fn due(&mut self, now: Instant, after: Duration) -> bool {
        let due = self.next.is_some_and(|at| now >= at);
        if due {
            self.next = Some(now + look(after));
        }
        due
    }

    /// A count of `generation` found `count` connections (`None`: they
    /// cannot be seen, which keeps it running); whether it has now had
    /// none for `after`. A count of another child changes nothing.
    pub fn counted(
        &mut self,
        generation: Generation,
        count: Option<usize>,
        now: Instant,
        after: Duration,
    ) -> bool {
        if generation != self.generation {
            return false;
        }
        if count != Some(0) {
            self.busy();
            return false;
        }
        let since = *self.quiet_since.get_or_insert(now);
        now.saturating_duration_since(since) >= after
    }

    /// A connection was found after all: the idle time starts afresh at
    /// the next count that finds none.
    pub fn busy(&mut self) {
        self.quiet_since = None;
    }
}

/// How far apart connections are counted for an idle time of `after`: a
/// tenth of it, within [`IDLE_LOOK_MIN`] and [`IDLE_LOOK_MAX`].
pub fn look(after: Duration) -> Duration {
    (after / 10).clamp(IDLE_LOOK_MIN, IDLE_LOOK_MAX)
}
