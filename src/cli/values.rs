//! The values of the flags, each checked in its value parser so that a bad
//! one is a usage error, quoting it, before anything is set up.

use std::path::PathBuf;
use std::time::Duration;

use crate::signal::Signal;

/// `--stop-signal`: `TERM`, `SIGTERM`, `sigterm` or `15`.
pub fn signal(text: &str) -> Result<Signal, String> {
    if !cfg!(unix) {
        return Err("Windows has no signals to send: COMMAND is asked to stop with Ctrl-Break, and a change restarts it".into());
    }
    if let Ok(number) = text.parse::<i32>() {
        return if (1..=Signal::MAX).contains(&number) {
            Ok(Signal(number))
        } else {
            Err(format!(
                "there is no signal {number} (signals are 1 to {})",
                Signal::MAX
            ))
        };
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    Signal::from_name(bare).ok_or_else(|| {
        "unknown signal: expected a name such as TERM, SIGINT or HUP, or a number".into()
    })
}

/// `--socket-mode`: permission bits in octal, as systemd's `SocketMode=`
/// takes them (`0660`, `660`): one to four octal digits, no more than
/// `0777`.
pub fn socket_mode(text: &str) -> Result<u32, String> {
    let octal =
        !text.is_empty() && text.len() <= 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let Some(mode) = octal.then(|| u32::from_str_radix(text, 8).ok()).flatten() else {
        return Err(
            "not an octal mode: expected up to four octal digits, such as 0660 or 600".into(),
        );
    };
    if mode > 0o777 {
        return Err(format!(
            "{mode:04o} sets the setuid, setgid or sticky bit, which mean nothing on a socket: give permission bits only, such as {:04o}",
            mode & 0o777
        ));
    }
    Ok(mode)
}

/// `--build`: a shell command line, which must hold more than blanks.
pub fn build_line(line: std::ffi::OsString) -> Result<std::ffi::OsString, String> {
    if line.to_string_lossy().trim().is_empty() {
        return Err(
            "the build command line is empty: give the command that builds, such as 'cargo build'"
                .into(),
        );
    }
    Ok(line)
}

/// `--livereload`'s ADDR: `IP:PORT` (IPv6 in brackets), or a bare port on
/// 127.0.0.1.
pub fn livereload_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let port = text.rsplit_once(':').map_or(text, |(_, port)| port);
    let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    if digits && port.parse::<u16>().is_err() {
        return Err(format!("'{port}' is not a valid port (0-65535)"));
    }
    text.parse()
        .map_err(|_| "expected IP:PORT (such as 127.0.0.1:35729 or [::1]:35729) or a port".into())
}

/// `--stop-timeout`: `500ms`, `5s`, `1.5s`, `1m`; a plain number is seconds.
pub fn stop_timeout(text: &str) -> Result<Duration, String> {
    duration(text, Unit::Seconds)
}

/// `--idle-stop`: like `--stop-timeout` (a plain number is seconds), and
/// more than nothing.
pub fn idle_stop(text: &str) -> Result<Duration, String> {
    match duration(text, Unit::Seconds)? {
        Duration::ZERO => Err("the idle time must be more than 0, such as 30s or 5m".into()),
        after => Ok(after),
    }
}

/// `--debounce`: like `--stop-timeout`, but a plain number is milliseconds.
pub fn debounce(text: &str) -> Result<Duration, String> {
    duration(text, Unit::Millis)
}

#[derive(Clone, Copy)]
enum Unit {
    Millis,
    Seconds,
}

/// The longest duration accepted: a day is more than any wait systemfd
/// should make, and far from where adding it to a clock reading overflows.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

fn duration(text: &str, plain: Unit) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(
            "not a duration: expected a number with an optional unit, such as 500ms, 5s or 1m"
                .into(),
        );
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: '{number}' is not a number"))?;
    let seconds = match (unit, plain) {
        ("", Unit::Millis) | ("ms", _) => value / 1000.0,
        ("", Unit::Seconds) | ("s", _) => value,
        ("m", _) => value * 60.0,
        (other, _) => return Err(format!("unknown unit '{other}': use ms, s or m")),
    };
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        _ => Err("the duration is too long: at most 1440m (a day)".into()),
    }
}

/// `--poll`'s INTERVAL: like `--debounce`, a plain number is
/// milliseconds; at least 10 ms.
pub fn poll_interval(text: &str) -> Result<Duration, String> {
    let interval = duration(text, Unit::Millis)?;
    if interval < Duration::from_millis(10) {
        return Err("the interval is too short: at least 10ms".into());
    }
    Ok(interval)
}

/// `--exts`: one extension, with or without its dot (`rs`, `.rs`).
pub fn extension(text: &str) -> Result<String, String> {
    let ext = text.trim().strip_prefix('.').unwrap_or(text.trim());
    if ext.is_empty() {
        return Err("an empty extension: give them as rs,toml".into());
    }
    if ext.contains(['/', '\\', '*', '?', '[']) {
        return Err(format!(
            "'{ext}' is not an extension: give them as rs,toml (--filter takes patterns)"
        ));
    }
    Ok(ext.to_owned())
}

/// `--watch`: the path must exist now (a watch on nothing would never fire).
/// Any name the system takes, UTF-8 or not.
pub fn watch_path(text: std::ffi::OsString) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match std::fs::metadata(&path) {
        Ok(_) => Ok(path),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Err("no such file or directory".into())
        }
        Err(err) => Err(format!("cannot watch it: {err}")),
    }
}

/// `--filter`: a pattern in `.gitignore` syntax, checked as `--ignore`'s.
pub fn filter_pattern(text: &str) -> Result<String, String> {
    if text.starts_with('!') {
        return Err("a filter cannot be negated: --ignore takes what to leave out".into());
    }
    if text.trim().is_empty() || text.starts_with('#') {
        return Err("an empty pattern (or a comment) matches nothing".into());
    }
    ignore_pattern(text)
}

/// `--ignore`: a pattern in `.gitignore` syntax, checked as the watcher
/// will compile it (on every platform: supervise mode runs on Windows too).
pub fn ignore_pattern(text: &str) -> Result<String, String> {
    let mut builder = ignore::gitignore::GitignoreBuilder::new("");
    // Unlike a .gitignore file, a mistyped flag should say so.
    builder.allow_unclosed_class(false);
    if text.trim().is_empty() || text.starts_with('#') {
        return Err("an empty pattern (or a comment) ignores nothing".into());
    }
    match builder.add_line(None, text) {
        Ok(_) => Ok(text.to_owned()),
        Err(ignore::Error::Glob { err, .. }) => Err(format!("not a valid pattern: {err}")),
        Err(err) => Err(format!("not a valid pattern: {err}")),
    }
}

#[cfg(test)]
mod tests;
