//! The one harness the integration tests drive the real binary with: the
//! programs under test, how they are run and read ([`command`]), the probe's
//! report ([`probe`]), talking to the servers ([`net`]), judging their HTTP
//! answers ([`http`]) and loading them ([`load`]), what listens on a port
//! ([`listeners`]), processes and signals ([`process`]), a project directory
//! per test ([`project`]), the tools from outside the crate ([`tools`]), a
//! real browser ([`browser`]), a LiveReload client ([`livereload`]) and
//! Wine ([`wine`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub mod browser;
pub mod command;
pub mod http;
pub mod listeners;
pub mod livereload;
pub mod load;
pub mod net;
pub mod probe;
pub mod process;
pub mod project;
pub mod servers;
pub mod tools;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod wine;

pub use command::{Ran, Running, TestCommand};
pub use net::free_port;
pub use process::{signal, Signal};
pub use project::Project;

/// How long any single wait in a test may take, unless the command says
/// otherwise ([`TestCommand::deadline`]).
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The systemfd binary under test.
pub fn systemfd_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_systemfd"))
}

pub fn systemfd() -> TestCommand {
    TestCommand::new(systemfd_path())
}

/// A program from `examples/`, which `cargo test` builds next to the tests.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} was not built; run `cargo test`, which builds examples",
        path.display()
    );
    path
}

/// The probe (examples/probe.rs), for a command line.
pub fn probe() -> String {
    example("probe").display().to_string()
}

/// The HTTP server example (examples/hello.rs), for a command line.
pub fn hello() -> String {
    example("hello").display().to_string()
}

/// A fresh directory under the system's temporary directory, removed when
/// dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// The number right after `prefix` in `line` (`~> started pid 42`).
pub fn number_after(line: &str, prefix: &str) -> u32 {
    let at = line
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {line:?}"))
        + prefix.len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {prefix:?} in {line:?}"))
}

/// Whether `condition` comes to hold within `limit`, asked every few
/// milliseconds.
pub fn holds_within(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `condition` holds; fails, naming `what`, after [`DEADLINE`].
pub fn wait_until(what: &str, condition: impl FnMut() -> bool) {
    assert!(
        holds_within(DEADLINE, condition),
        "{what}: not within {DEADLINE:?}"
    );
}
