//! The socket-activation environment, as systemd and the `listenfd` crate read it.
//!
//! See `docs/protocol.md`. The variables are computed here, portably; the
//! platform modules only decide where the sockets go.

use crate::socket::Sockets;

/// The first descriptor of the passed sockets (`SD_LISTEN_FDS_START`).
pub const FIRST_FD: i32 = 3;

/// Every variable systemfd sets; all are cleared from the inherited
/// environment first, so stale values from an outer activation never leak.
pub const VARIABLES: [&str; 4] = [
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "LISTEN_FDS_FIRST_FD",
];

/// The variables for `sockets`, except `LISTEN_PID`, which depends on the
/// process that runs the command. Empty when there are no sockets.
pub fn variables(sockets: &Sockets) -> Vec<(&'static str, String)> {
    if sockets.is_empty() {
        return Vec::new();
    }
    vec![
        ("LISTEN_FDS", sockets.len().to_string()),
        ("LISTEN_FDNAMES", sockets.fd_names()),
        ("LISTEN_FDS_FIRST_FD", FIRST_FD.to_string()),
    ]
}
