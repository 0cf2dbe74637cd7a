//! The bounds on what the page server spends, and on how long it waits.

use std::time::{Duration, Instant};

/// Bounds on the page server: on its connections, on what one client may
/// cost, and on how long [`ErrorPage::stop`](super::ErrorPage::stop) waits.
/// The default is what the module documentation promises; tests shorten the
/// times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How many connections are open at once (default 256). When full, a
    /// new connection evicts the oldest one still reading its request head;
    /// with none to evict, the new one is closed at once.
    pub max_connections: usize,
    /// The longest request head, in bytes (default 8 KiB); a longer one is
    /// answered `431`.
    pub max_head: usize,
    /// How long a client has, from its connection's acceptance, to send its
    /// whole request head (default 10 s); then it is closed unanswered.
    pub head_timeout: Duration,
    /// How long writing an answer may take (default 10 s); then the
    /// connection is closed.
    pub write_timeout: Duration,
    /// How long a wait request is held (default 25 s) before it is answered
    /// `204` (`X-Systemfd: wait`), and the page asks again.
    pub hold: Duration,
    /// How many wait requests are held at once from one peer IP address
    /// (default 4: a browser opens at most 6 connections per host, across
    /// its tabs, so 2 stay free for the reload itself). More are answered
    /// `429` (`X-Systemfd: busy`).
    pub max_held_per_client: usize,
    /// How many wait requests are held at once in all (default 64).
    pub max_held: usize,
    /// How long [`ErrorPage::stop`](super::ErrorPage::stop) waits for the
    /// thread to confirm (default 200 ms), and the drop for it to end.
    pub stop_limit: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            max_head: 8 * 1024,
            head_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            hold: Duration::from_secs(25),
            max_held_per_client: 4,
            max_held: 64,
            stop_limit: Duration::from_millis(200),
        }
    }
}

/// `wait` after `now`; a wait too long to add (a `Limits` of
/// `Duration::MAX`, say) is a day, so that no sum can overflow and panic.
pub fn after(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}
