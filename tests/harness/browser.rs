//! A real browser for the tests: headless Chromium, driven through Selenium
//! by `tests/browser/drive.py`, one tab, one command at a time. Every wait
//! is bounded twice: by the time the command gives the driver, and by the
//! harness's deadline on the driver's answer.
//!
//! Selenium runs under `SYSTEMFD_BROWSER_PYTHON`, by default
//! `/usr/bin/python3`: Debian's python3-selenium is for Debian's own Python,
//! which need not be the first `python3` on `PATH`. build.rs looks for the
//! same three things (`has_browser`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::process::{kill_process_group, Pid, Signal};

use super::{Running, TestCommand, DEADLINE};

/// What to install when the browser is missing.
pub const INSTALL: &str = "the browser tests need Chromium, chromedriver and Selenium for \
    /usr/bin/python3 (Debian: `apt-get install chromium chromium-driver python3-selenium`), \
    or SYSTEMFD_BROWSER_PYTHON set to a Python with Selenium";

/// How long the browser may take to start.
const START: Duration = Duration::from_secs(60);

/// The Python that runs Selenium.
fn python() -> PathBuf {
    std::env::var_os("SYSTEMFD_BROWSER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

/// Fails with what to install unless the browser, its driver and Selenium
/// are there.
fn require() {
    let python = python();
    let found = |program: &Path, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    for (program, args) in [
        (python.as_path(), &["-c", "import selenium"][..]),
        (Path::new("chromium"), &["--version"]),
        (Path::new("chromedriver"), &["--version"]),
    ] {
        assert!(
            found(program, args),
            "`{} {}` does not run: {INSTALL}",
            program.display(),
            args.join(" ")
        );
    }
}

/// A headless Chromium with one tab; closed when dropped.
pub struct Browser {
    driver: Running,
}

impl Browser {
    /// Starts the browser and waits until it is ready.
    pub fn start() -> Browser {
        require();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/drive.py");
        let mut driver = TestCommand::new(python())
            .arg(script)
            // Unbuffered, and in a group of its own: whatever the browser
            // leaves behind is killed with it.
            .env("PYTHONUNBUFFERED", "1")
            .process_group(0)
            .stdin_piped()
            .deadline(START)
            .spawn();
        driver.wait_for("browser: ready", |l| l == "browser: ready");
        Browser { driver }
    }

    /// Sends one command (its fields joined by tabs) and returns the answer:
    /// `Ok(TEXT)` for `browser: ok TEXT`, `Err(MESSAGE)` for `browser: error
    /// MESSAGE`, with `\n` in either made a newline again.
    fn ask(&mut self, fields: &[&str]) -> Result<String, String> {
        let line = fields.join("\t");
        assert!(
            !fields.iter().any(|f| f.contains(['\t', '\n'])),
            "a browser command field holds a tab or a newline: {line:?}"
        );
        self.driver.write_stdin(&format!("{line}\n"));
        let answer = self.driver.wait_for(&format!("answering {line:?}"), |l| {
            l.starts_with("browser: ")
        });
        let answer = &answer["browser: ".len()..];
        let (status, text) = answer.split_once(' ').unwrap_or((answer, ""));
        let text = unescape(text);
        match status {
            "ok" => Ok(text),
            "error" => Err(text),
            _ => panic!("a strange answer from the browser: {answer:?}"),
        }
    }

    /// Loads `url` in the tab, waiting at most `limit` (the browser's
    /// page-load timeout); returns how long it took.
    pub fn open(&mut self, url: &str, limit: Duration) -> Result<Duration, String> {
        let ms = self.ask(&["open", url, &seconds(limit)])?;
        Ok(millis(&ms))
    }

    /// Waits until the tab's text (`document.body.innerText`) holds `text`,
    /// at most `limit`, and returns how long that took; or what the tab
    /// shows instead.
    pub fn wait_text(&mut self, text: &str, limit: Duration) -> Result<Duration, String> {
        let ms = self.ask(&["wait_text", text, &seconds(limit)])?;
        Ok(millis(&ms))
    }

    /// How many elements of the tab match the CSS `selector`.
    pub fn count(&mut self, selector: &str) -> usize {
        let n = self
            .ask(&["count", selector])
            .unwrap_or_else(|e| panic!("count {selector:?} in the browser: {e}"));
        n.parse()
            .unwrap_or_else(|_| panic!("not a count from the browser: {n:?}"))
    }

    /// The tab's text (`document.body.innerText`).
    pub fn text(&mut self) -> String {
        self.ask(&["text"])
            .unwrap_or_else(|e| panic!("the browser's text: {e}"))
    }

    /// Runs `js`, a function body on one line, in the tab; what it returns,
    /// in JSON (`null` for nothing).
    pub fn script(&mut self, js: &str) -> String {
        self.ask(&["script", js])
            .unwrap_or_else(|e| panic!("the script {js:?} in the browser: {e}"))
    }

    /// What the tab received since the last call, a line each:
    /// `document STATUS URL` for each page loaded, `ws-received PAYLOAD`
    /// and `ws-sent PAYLOAD` for each WebSocket message (see
    /// `tests/browser/drive.py`).
    pub fn network(&mut self) -> Vec<String> {
        self.ask(&["network"])
            .unwrap_or_else(|e| panic!("the browser's network log: {e}"))
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// What the driver printed, for failure messages.
    pub fn report(&self) -> String {
        self.driver.report()
    }
}

impl Drop for Browser {
    /// Closes the browser, politely unless the test is failing already
    /// (a second panic would abort); then kills what is left of its group.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = self.ask(&["quit"]);
            self.driver.wait();
        }
        if let Some(group) = i32::try_from(self.driver.pid())
            .ok()
            .and_then(Pid::from_raw)
        {
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
}

/// `limit` in seconds, as the driver takes it.
fn seconds(limit: Duration) -> String {
    assert!(
        limit < DEADLINE,
        "a browser wait of {limit:?} outlasts the harness's deadline"
    );
    format!("{:.3}", limit.as_secs_f64())
}

/// The milliseconds the driver answered.
fn millis(text: &str) -> Duration {
    Duration::from_millis(
        text.parse()
            .unwrap_or_else(|_| panic!("not milliseconds from the browser: {text:?}")),
    )
}

/// The driver's `\n` and `\\` made a newline and a backslash again.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}
