//! The integration tests: the real binary, with real consumers and real
//! servers, driven through one harness (`harness/`), one module per topic
//! (`suite/`). `tests/layers.rs`, beside this crate, checks the source's
//! layering.
//!
//! A test that needs a tool from outside the crate (Wine, Node, Go, …) is
//! built `#[ignore]`d, saying what to install, when build.rs does not find
//! the tool; with `SYSTEMFD_TESTS_REQUIRE_ALL=1` nothing is ignored and a
//! missing tool is a failure.
//!
//! The Unix build is tested on Unix, the Windows build under Wine on Linux;
//! what needs Linux itself (`/proc`, inotify, the readiness handover) runs
//! there only.
#![cfg(unix)]
// Elsewhere the Linux-only modules are compiled out, and with them the only
// users of some helpers.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

mod harness;

#[cfg(target_os = "linux")]
#[path = "suite/adopt.rs"]
mod adopt;
#[cfg(target_os = "linux")]
#[path = "suite/changes.rs"]
mod changes;
#[path = "suite/error_page.rs"]
mod error_page;
#[path = "suite/exec.rs"]
mod exec;
#[path = "suite/generate.rs"]
mod generate;
#[cfg(target_os = "linux")]
#[path = "suite/handover.rs"]
mod handover;
#[cfg(target_os = "linux")]
#[path = "suite/livereload.rs"]
mod livereload;
#[path = "suite/on_demand.rs"]
mod on_demand;
#[cfg(target_os = "linux")]
#[path = "suite/recipes.rs"]
mod recipes;
#[cfg(target_os = "linux")]
#[path = "suite/sockets.rs"]
mod sockets;
#[path = "suite/supervise.rs"]
mod supervise;
#[path = "suite/terminal.rs"]
mod terminal;
#[cfg(target_os = "linux")]
#[path = "suite/watch.rs"]
mod watch;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[path = "suite/windows.rs"]
mod windows;
