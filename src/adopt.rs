//! Adoption (Linux): a server that binds its own port gets systemfd's
//! socket, with no change to its code.
//!
//! A seccomp filter that the command installs just before exec (see
//! `sys::linux::seccomp`) sends every `bind()` and `listen()` of its
//! process tree to systemfd. A bind to an address that names a passed
//! socket ([`matching`]) is answered by putting systemfd's socket at the
//! program's descriptor and returning success; `listen()` on it then
//! returns success without touching the socket, so the program's small
//! backlog does not shrink the shared queue. Every other call goes through
//! as the program made it. As the socket is the same across restarts, the
//! handover works as for a program that reads `LISTEN_FDS`.
//!
//! `adopt/matching.rs` decides, from plain data, tested everywhere;
//! `adopt/linux.rs` answers the kernel.

#[cfg(target_os = "linux")]
mod linux;
// Decided on every platform, so it is tested everywhere; used on Linux only.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod matching;

#[cfg(target_os = "linux")]
pub use linux::{probe, Adopter};
