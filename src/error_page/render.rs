//! The page's text, as pure functions of an [`Outage`]: the HTML page and
//! its plain-text twin for trusted clients, the bare pages for everyone
//! else, and the UTC time they show.
//!
//! Everything shown is bounded: each fact is cut at [`MAX_FIELD`] bytes,
//! the build output at its last [`MAX_OUTPUT`] bytes and [`MAX_LINES`]
//! lines, so a page is at most a few hundred KiB however large the outage.

use std::time::{SystemTime, UNIX_EPOCH};

use super::ansi::{self, Target};
use super::outage::Outage;

/// The most bytes of one fact (cause, change, command) shown.
pub const MAX_FIELD: usize = 4096;
/// The most bytes of the build's output looked at: the last ones.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// The most lines of the build's output shown: the last ones.
pub const MAX_LINES: usize = 300;

/// The bare HTML page: no detail, no script.
pub const BARE_HTML: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n\
<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"5\">\n\
<title>Service Unavailable</title>\n</head>\n<body>\n\
<h1>Service Unavailable</h1>\n<p>The server is not running.</p>\n</body>\n</html>\n";

/// The bare plain-text page.
pub const BARE_PLAIN: &str = "Service Unavailable: the server is not running\n";

/// The page for a trusted browser, which shows outage number `epoch` and
/// waits for the server with its script.
pub fn html(outage: &Outage, epoch: u64) -> String {
    let facts = Facts::of(outage);
    let mut page = String::with_capacity(16 * 1024);
    page.push_str(HTML_HEAD);
    page.push_str("<title>Not running: ");
    ansi::escape_html(&facts.cause, &mut page);
    page.push_str("</title>\n</head>\n<body>\n<h1>The server is not running</h1>\n");
    page.push_str("<p class=\"cause\">");
    ansi::escape_html(&facts.cause, &mut page);
    page.push_str("</p>\n<dl>\n<dt>When</dt><dd><time id=\"at\" datetime=\"");
    page.push_str(&facts.at);
    page.push_str("\">");
    page.push_str(&facts.at);
    page.push_str("</time> <span id=\"ago\"></span></dd>\n<dt>Change</dt><dd>");
    ansi::escape_html(&facts.change, &mut page);
    page.push_str("</dd>\n<dt>Command</dt><dd><code>");
    ansi::escape_html(&facts.command, &mut page);
    page.push_str("</code></dd>\n</dl>\n");
    if let Some(output) = &outage.output {
        let text = output_text(output);
        let lines = Lines::of(&text);
        page.push_str("<h2>Build output</h2>\n");
        if let Some(note) = lines.note() {
            page.push_str("<p class=\"note\">");
            page.push_str(&note);
            page.push_str("</p>\n");
        }
        page.push_str("<pre>");
        ansi::convert(&text, lines.from, Target::Html, &mut page);
        page.push_str("</pre>\n");
    }
    page.push_str(
        "<p class=\"note\">systemfd answers in the server's place; \
         this page reloads itself when the server is back.</p>\n",
    );
    page.push_str(&SCRIPT.replace("EPOCH", &epoch.to_string()));
    if let Some(script) = &outage.script {
        page.push_str("<script src=\"");
        ansi::escape_html(script, &mut page);
        page.push_str("\"></script>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// The page for a trusted client that is not a browser: the same facts,
/// the output without its escape sequences.
pub fn plain(outage: &Outage) -> String {
    let facts = Facts::of(outage);
    let mut page = format!(
        "Service Unavailable: the server is not running\n\n\
         Cause:    {}\nWhen:     {}\nChange:   {}\nCommand:  {}\n",
        facts.cause, facts.at, facts.change, facts.command
    );
    if let Some(output) = &outage.output {
        let text = output_text(output);
        let lines = Lines::of(&text);
        page.push_str("\nBuild output");
        if let Some(note) = lines.note() {
            page.push_str(&format!(" ({note})"));
        }
        page.push_str(":\n");
        ansi::convert(&text, lines.from, Target::Plain, &mut page);
        if !page.ends_with('\n') {
            page.push('\n');
        }
    }
    page.push_str("\nsystemfd answers in the server's place until the server is back.\n");
    page
}

/// `at` in UTC, ISO 8601 to the second: `2023-11-14T22:13:20Z`. A time
/// before 1970 is shown as 1970.
pub fn iso_time(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The one-line facts, cleaned and cut.
struct Facts {
    cause: String,
    at: String,
    change: String,
    command: String,
}

impl Facts {
    fn of(outage: &Outage) -> Facts {
        Facts {
            cause: field(&outage.cause),
            at: iso_time(outage.at),
            change: match &outage.change {
                Some(change) => field(change),
                None => "none: the first start".to_owned(),
            },
            command: field(&outage.command),
        }
    }
}

/// A fact as shown: at most [`MAX_FIELD`] bytes, on one line, without
/// escape sequences or control characters.
fn field(text: &str) -> String {
    let mut end = text.len().min(MAX_FIELD);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut shown = ansi::plain(&text[..end]).replace(['\n', '\t'], " ");
    if end < text.len() {
        shown.push('…');
    }
    shown
}

/// The output's last [`MAX_OUTPUT`] bytes as text, from the start of a
/// line when cut, invalid UTF-8 replaced (U+FFFD) before the escape
/// sequences are parsed.
fn output_text(output: &[u8]) -> String {
    let start = output.len().saturating_sub(MAX_OUTPUT);
    let mut tail = &output[start..];
    if start > 0 {
        if let Some(newline) = tail.iter().position(|&b| b == b'\n') {
            tail = &tail[newline + 1..];
        }
    }
    overwritten(&String::from_utf8_lossy(tail))
}

/// `text` as a terminal leaves it: a carriage return within a line (a
/// progress line redrawn) starts it over, so only what was written after
/// the last one stays; a `\r\n` line ending is a plain line end.
fn overwritten(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        out.push_str(line.rsplit('\r').next().unwrap_or(line));
    }
    out
}

/// Which lines of the output are shown.
#[derive(Debug, PartialEq, Eq)]
struct Lines {
    /// The byte offset where the shown lines start.
    from: usize,
    /// How many lines there are in all.
    total: usize,
    /// How many are shown: the last ones, at most [`MAX_LINES`].
    shown: usize,
}

impl Lines {
    fn of(text: &str) -> Lines {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let total = if body.is_empty() {
            0
        } else {
            body.matches('\n').count() + 1
        };
        let from = match body.rmatch_indices('\n').nth(MAX_LINES.saturating_sub(1)) {
            Some((newline, _)) if total > MAX_LINES => newline + 1,
            _ => 0,
        };
        Lines {
            from,
            total,
            shown: total.min(MAX_LINES),
        }
    }

    /// Says what is shown, when that is not everything.
    fn note(&self) -> Option<String> {
        match self.total {
            0 => Some("It printed nothing.".to_owned()),
            total if total > self.shown => Some(format!("Its last {} lines.", self.shown)),
            _ => None,
        }
    }
}

const HTML_HEAD: &str = "<!DOCTYPE html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>
<style>
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { max-width: 64rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.cause { font-size: 1.15rem; font-weight: 600; color: #c0392b; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
.note { color: GrayText; font-size: .9rem; }
pre { background: #1d1f21; color: #d8d8d8; padding: 1rem; border-radius: 6px;
  overflow-x: auto; font-size: .85rem; line-height: 1.3; }
.b { font-weight: bold; }
.f0 { color: #6c6c6c; } .f1 { color: #e06c75; } .f2 { color: #98c379; }
.f3 { color: #e5c07b; } .f4 { color: #61afef; } .f5 { color: #c678dd; }
.f6 { color: #56b6c2; } .f7 { color: #dcdfe4; } .f8 { color: #8b919a; }
.f9 { color: #ff8791; } .f10 { color: #b8e994; } .f11 { color: #ffd98e; }
.f12 { color: #8ecbff; } .f13 { color: #e3a8ff; } .f14 { color: #84e1ec; }
.f15 { color: #ffffff; }
</style>
";

/// Shows the time in local time and its age, and waits for the server
/// (the wait protocol of the module documentation); EPOCH is replaced by
/// the outage's number.
const SCRIPT: &str = "<script>
(function () {
  var at = document.getElementById('at'), ago = document.getElementById('ago');
  var when = new Date(at.getAttribute('datetime'));
  at.textContent = when.toLocaleString();
  function age() {
    var s = Math.max(0, Math.round((Date.now() - when.getTime()) / 1000));
    ago.textContent = '(' + (s < 120 ? s + ' s' : Math.floor(s / 60) + ' min') + ' ago)';
  }
  age();
  setInterval(age, 1000);
  function ask() {
    fetch('/.systemfd/wait?page=EPOCH', {cache: 'no-store'}).then(function (answer) {
      var said = answer.headers.get('X-Systemfd');
      if (said === 'wait') ask();
      else if (said === 'busy') setTimeout(ask, 5000);
      else location.reload();
    }, function () { setTimeout(ask, 1000); });
  }
  ask();
})();
</script>
";

#[cfg(test)]
mod tests;
