//! Inferred readiness: whether a child's process tree waits for connections
//! on the passed sockets.
//!
//! Most servers never send `READY=1`. Yet the kernel shows when one starts
//! serving: a server waits for connections on its listening socket, either
//! with the socket registered in an epoll set (tokio/mio, libuv, asyncio, Go's
//! netpoller) or with a thread blocked in `accept`, `poll` or `select` on it
//! (std servers, gunicorn's sync workers). Linux shows both under `/proc`:
//! an epoll descriptor's `fdinfo` lists each registered target's inode, and
//! `/proc/PID/task/TID/syscall` shows a blocked thread's system call and
//! arguments (the `pollfd` array or `fd_set` they point to are read from
//! `/proc/PID/mem`, which the kernel lets a parent read). The passed socket
//! is the same open file in systemfd and in every process of the child's
//! tree, so its inode identifies it wherever it is, whatever its fd number.
//!
//! Holding the socket is not enough: a wrapper (`sh -c`, `cargo run`, `npm
//! run`) inherits it and then waits for a compiler or its own child, and
//! counting that would hand over to a server that does not exist yet.
//!
//! The same sockets tell when an old child that has handed over is idle:
//! the connections a passed listener accepts show in `/proc/net/tcp`,
//! `tcp6` and `unix` under their own inodes, and `/proc/PID/fd` shows
//! which of those a process holds. Supervise mode stops the old child only
//! once its tree holds none, so that the requests it serves are not cut.
//!
//! The same tables tell when the sockets are idle (`--idle-stop`): the
//! connections open to a passed listener, and those in its backlog, are
//! counted in `/proc/net/tcp`, `tcp6` and `unix` (`listening/net.rs`
//! parses them, `listening/traffic.rs` reads them).
//!
//! `listening/proc.rs` and `listening/tables.rs` hold the parsing of what
//! `/proc` shows, portable and tested on every platform;
//! `listening/linux.rs` reads `/proc` to find a waiting process, and
//! `listening/held.rs` to count connections. Other systems have no such
//! interface, so there supervise mode relies on `READY=1` alone, and stops
//! an old child without waiting for it to be idle.

#[cfg(target_os = "linux")]
mod held;
#[cfg(target_os = "linux")]
mod linux;
// Parsed on every platform, so it is tested everywhere; read on Linux only.
mod net;
mod proc;
mod tables;
#[cfg(target_os = "linux")]
mod traffic;

#[cfg(target_os = "linux")]
pub use held::{any_stopped, held, settle, with_descendants};
#[cfg(target_os = "linux")]
pub use linux::{find, Watched};
#[cfg(target_os = "linux")]
pub use traffic::connections;
