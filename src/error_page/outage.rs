//! What the page says: why the server is not running.

use std::time::SystemTime;

/// Why the server is not running: the facts the page shows to a trusted
/// client (see the module documentation). Each text is shown as given,
/// escaped, with control characters and escape sequences removed, and cut
/// at 4 KiB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// How COMMAND ended, one line, as the terminal said it, e.g. "pid 4242
    /// exited with status 42", "the build failed: it exited with status
    /// 101", "cannot run 'app': No such file or directory (os error 2)".
    pub cause: String,
    /// When it ended (wall clock); the page shows it in UTC (ISO 8601), and
    /// its script in the browser's local time.
    pub at: SystemTime,
    /// The change that started the run that failed, e.g. "src/main.rs (and
    /// 2 more)"; `None` for the first start.
    pub change: Option<String>,
    /// COMMAND (and the build command line, if any) as the user typed it.
    pub command: String,
    /// The build's kept output (its last part, at most 64 KiB: only the
    /// last 64 KiB are looked at), raw bytes that may hold ANSI escape
    /// sequences and invalid UTF-8, when a build failed.
    pub output: Option<Vec<u8>>,
    /// The LiveReload client script the HTML page loads (`--livereload`),
    /// as `http://IP:PORT/livereload.js`: it reloads the page too, and says
    /// how the next build goes.
    pub script: Option<String>,
}
