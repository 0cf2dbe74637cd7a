//! A LiveReload client for the tests: Python's `websocket` module (Debian's
//! python3-websocket, for `/usr/bin/python3`) speaking the protocol to
//! systemfd's LiveReload server, one process per client. It greets with the
//! protocols it is given and prints each message it receives as a line,
//! which [`Client`] reads; told to, it asks the app for `GET /` the moment a
//! `reload` arrives, as a page would, and prints the answer too. Every wait
//! is bounded.
//!
//! build.rs looks for the module (`has_python_websocket`).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::DEADLINE;

/// What to install when the module is missing.
pub const INSTALL: &str = "the LiveReload protocol tests need Python's websocket module for \
    /usr/bin/python3 (Debian: `apt-get install python3-websocket`)";

/// The LiveReload protocol, version 7: what livereload.js and the browser
/// extensions greet with.
pub const OFFICIAL_7: &str = "http://livereload.com/protocols/official-7";

/// systemfd's own status messages, which its own script asks for.
pub const STATUS_1: &str = "systemfd-status-1";

/// The Python that has the module.
const PYTHON: &str = "/usr/bin/python3";

/// The client: `ADDR PROTOCOLS ORIGIN GET`, PROTOCOLS comma-separated,
/// ORIGIN `-` for no `Origin` header, `default` for the module's own
/// (`http://ADDR`) or the header's value, GET the app's `IP:PORT` or `-`.
/// Prints `lr: FIELDS`, tab-separated, with `\`, tab and newline escaped:
/// `message AT COMMAND KEY VALUE…` for each message, AT when it came
/// (`time.monotonic()`, the system's monotonic clock, in seconds), string
/// values as they are and others in JSON; `got STATUS BODY` for the GET
/// after a `reload`; `closed` when the server closes the connection.
const CLIENT: &str = r#"
import http.client, json, sys, time
import websocket

addr, protocols, origin, get = sys.argv[1:5]

def escape(text):
    return str(text).replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")

def say(*fields):
    print("lr: " + "\t".join(escape(f) for f in fields), flush=True)

options = {"timeout": 10}
if origin == "-":
    options["suppress_origin"] = True
elif origin != "default":
    options["origin"] = origin
ws = websocket.create_connection("ws://%s/livereload" % addr, **options)
ws.send(json.dumps({"command": "hello", "protocols": protocols.split(",")}))
# Blocking from now on: the test kills the client when it is done.
ws.settimeout(None)
while True:
    opcode, data = ws.recv_data()
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        say("closed")
        break
    at = time.monotonic()
    message = json.loads(data.decode("utf-8"))
    fields = ["message", repr(at), message.get("command", "")]
    for key in sorted(message):
        value = message[key]
        fields += [key, value if isinstance(value, str) else json.dumps(value)]
    say(*fields)
    if message.get("command") == "reload" and get != "-":
        conn = http.client.HTTPConnection(get, timeout=10)
        conn.request("GET", "/")
        answer = conn.getresponse()
        say("got", answer.status, answer.read().decode("utf-8", "replace"))
        conn.close()
"#;

/// Fails with what to install unless the module is there.
fn require() {
    let found = Command::new(PYTHON)
        .args(["-c", "from websocket import create_connection, ABNF"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "`{PYTHON} -c 'import websocket'` fails: {INSTALL}");
}

/// The `Origin` header the client's upgrade request has.
#[derive(Clone, Copy, Debug)]
pub enum Origin<'a> {
    /// None: as a tool outside a browser connects.
    None,
    /// The module's own, `http://ADDR` (the LiveReload server's own
    /// address).
    Default,
    /// This one.
    Of(&'a str),
}

/// One LiveReload message: its command and its other fields (string
/// values as they are, others in JSON), and when it came.
#[derive(Clone, Debug)]
pub struct Message {
    /// When the client received it: seconds on the system's monotonic
    /// clock (`CLOCK_MONOTONIC`, Python's `time.monotonic()`), to compare
    /// with what other processes of the test note.
    pub at: f64,
    pub command: String,
    pub fields: BTreeMap<String, String>,
}

impl Message {
    /// The field `key`, if the message has it.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}

/// What the client printed.
#[derive(Clone, Debug)]
pub enum Event {
    /// A message from the server.
    Message(Message),
    /// The app's answer to the `GET /` made when a `reload` came: its
    /// status and body.
    Got(u16, String),
    /// The server closed the connection.
    Closed,
}

/// A LiveReload client, greeted; killed when dropped.
pub struct Client {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    description: String,
}

impl Client {
    /// Connects to the LiveReload server at `live` and greets with
    /// `protocols`; after each `reload`, `GET /` on `app` if given. Returns
    /// at once: the server's `hello` is the first message
    /// ([`Client::message`]).
    pub fn connect(
        live: SocketAddr,
        protocols: &[&str],
        origin: Origin,
        app: Option<SocketAddr>,
    ) -> Client {
        require();
        let origin = match origin {
            Origin::None => "-".to_owned(),
            Origin::Default => "default".to_owned(),
            Origin::Of(origin) => origin.to_owned(),
        };
        let get = app.map_or_else(|| "-".to_owned(), |a| a.to_string());
        let args = [live.to_string(), protocols.join(","), origin, get];
        let description = format!("LiveReload client {}", args.join(" "));
        let mut child = Command::new(PYTHON)
            .arg("-c")
            .arg(CLIENT)
            .args(&args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PYTHON}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let theirs = Arc::clone(&stderr);
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                theirs.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Client {
            child,
            lines,
            seen: Vec::new(),
            stderr,
            description,
        }
    }

    /// The next event, waiting at most `limit`; `None` when none came.
    /// Fails when the client ended or printed something else.
    pub fn next(&mut self, limit: Duration) -> Option<Event> {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    // What it wrote to stderr may still be on its way.
                    let _ =
                        super::command::wait_with_deadline(&mut self.child, Duration::from_secs(2));
                    panic!("the client ended\n{}", self.report())
                }
            };
            self.seen.push(line.clone());
            let Some(fields) = line.strip_prefix("lr: ") else {
                continue;
            };
            let fields: Vec<String> = fields.split('\t').map(unescape).collect();
            return Some(match fields[0].as_str() {
                "message" => Message {
                    at: fields[1]
                        .parse()
                        .unwrap_or_else(|_| panic!("a strange line: {line:?}")),
                    command: fields[2].clone(),
                    fields: fields[3..]
                        .chunks(2)
                        .map(|kv| (kv[0].clone(), kv.get(1).cloned().unwrap_or_default()))
                        .collect(),
                }
                .into(),
                "got" => Event::Got(
                    fields[1]
                        .parse()
                        .unwrap_or_else(|_| panic!("a strange line: {line:?}")),
                    fields[2].clone(),
                ),
                "closed" => Event::Closed,
                _ => panic!("a strange line from the client: {line:?}"),
            });
        }
    }

    /// The next event, within `limit`; fails, saying `what` was awaited,
    /// when none comes.
    pub fn expect(&mut self, what: &str, limit: Duration) -> Event {
        self.next(limit)
            .unwrap_or_else(|| panic!("no {what} within {limit:?}\n{}", self.report()))
    }

    /// The next event, within the deadline, which must be a message with
    /// `command`.
    pub fn message(&mut self, command: &str) -> Message {
        match self.expect(&format!("{command:?} message"), DEADLINE) {
            Event::Message(m) if m.command == command => m,
            other => panic!(
                "{other:?} where a {command:?} message was awaited\n{}",
                self.report()
            ),
        }
    }

    /// The next event, within the deadline, which must be the answer to
    /// the `GET /` after a `reload`: its status and body.
    pub fn got(&mut self) -> (u16, String) {
        match self.expect("answer to the GET after the reload", DEADLINE) {
            Event::Got(status, body) => (status, body),
            other => panic!(
                "{other:?} where the GET's answer was awaited\n{}",
                self.report()
            ),
        }
    }

    /// Asserts that nothing comes within `limit`.
    pub fn silent_for(&mut self, limit: Duration, context: impl Fn() -> String) {
        if let Some(event) = self.next(limit) {
            panic!(
                "{event:?} came, where nothing was to come within {limit:?}\n{}\n{}",
                self.report(),
                context()
            );
        }
    }

    /// What the client printed, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "{}\n--- its stdout ---\n{}\n--- its stderr ---\n{}",
            self.description,
            self.seen.join("\n"),
            String::from_utf8_lossy(&self.stderr.lock().unwrap())
        )
    }
}

impl From<Message> for Event {
    fn from(message: Message) -> Event {
        Event::Message(message)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client's `\\`, `\t`, `\r` and `\n` made themselves again.
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
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}
