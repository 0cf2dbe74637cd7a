//! The bounds on what the LiveReload server spends, and on how long it
//! waits.

use std::time::{Duration, Instant};

/// Bounds on the LiveReload server: on its connections, on what one client
/// may cost, and on how long the owner's calls wait for the thread. The
/// default is what the module documentation promises; tests shorten the
/// times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How many connections are open at once, HTTP and WebSocket alike
    /// (default 64). When full, a new connection evicts the oldest one that
    /// has not completed its handshake (or whose HTTP answer is written);
    /// with none to evict, the new one is closed at once.
    pub max_connections: usize,
    /// The longest request head, in bytes (default 8 KiB); a longer one is
    /// answered `431`.
    pub max_head: usize,
    /// How long a client has, from its connection's acceptance, to finish
    /// its handshake (default 10 s): to send its whole request head and,
    /// for a WebSocket, the LiveReload `hello`. Also how long writing an
    /// HTTP answer may take. Then it is closed.
    pub handshake_timeout: Duration,
    /// How long a WebSocket client may stay silent before it is sent a
    /// Ping, and then how long it has to answer anything (default 30 s
    /// each); one that answers nothing is closed.
    pub ping_interval: Duration,
    /// The most bytes waiting to be sent to one WebSocket client, beyond
    /// what its socket's buffers hold (default 256 KiB); a client that
    /// reads too little to keep under it is closed.
    pub max_backlog_bytes: usize,
    /// How long [`LiveReload::reload`](super::LiveReload::reload) waits for
    /// the thread to confirm (default 200 ms), and the drop for it to end.
    pub stop_limit: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            max_head: 8 * 1024,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            max_backlog_bytes: 256 * 1024,
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
