//! The socket-activation environment, as systemd and the `listenfd` crate read it.
//!
//! See `docs/protocol.md`. The variables are computed here, portably; the
//! platform modules only decide where the sockets go.

use crate::socket_server;

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

/// The socket-passing variables an outer provider may have left in the
/// environment, of both protocols: none of them reaches COMMAND unless
/// systemfd sets it anew.
pub const STALE_VARIABLES: [&str; 6] = [
    VARIABLES[0],
    VARIABLES[1],
    VARIABLES[2],
    VARIABLES[3],
    socket_server::SERVER_VAR,
    socket_server::SECRET_VAR,
];

/// How the printed line names the place socket `index` is handed over:
/// `fd #3` on Unix, `socket #0` on Windows (its position in the socket
/// server's reply).
pub fn target_label(index: usize) -> String {
    if cfg!(unix) {
        format!("fd #{}", FIRST_FD as usize + index)
    } else {
        format!("socket #{index}")
    }
}

/// The variables for `sockets`, except `LISTEN_PID`, which depends on the
/// process that runs the command. Empty when there are no sockets.
#[cfg(unix)]
pub fn variables(sockets: &crate::socket::Sockets) -> Vec<(&'static str, String)> {
    if sockets.is_empty() {
        return Vec::new();
    }
    vec![
        ("LISTEN_FDS", sockets.len().to_string()),
        ("LISTEN_FDNAMES", sockets.fd_names()),
        ("LISTEN_FDS_FIRST_FD", FIRST_FD.to_string()),
    ]
}
