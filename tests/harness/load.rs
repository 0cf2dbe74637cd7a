//! A browser-like load on a server: one client asking `GET /` every 50 ms,
//! each time on a fresh connection, as a page that a developer keeps
//! reloading does, with every answer kept for the test to judge.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::holds_within;
use super::net::http_get_at;

/// How often the client asks.
pub const PERIOD: Duration = Duration::from_millis(50);

/// The client stops by itself after this long, whatever the test does.
const LIMIT: Duration = Duration::from_secs(120);

/// One request: when it started, how long it took, and the status line and
/// body of the answer, or why there was none.
pub struct Request {
    pub started: Instant,
    pub took: Duration,
    pub answer: Result<(String, String), String>,
}

impl Request {
    /// The body of a `200` answer.
    pub fn body_if_ok(&self) -> Option<&str> {
        match &self.answer {
            Ok((status, body)) if status.starts_with("HTTP/1.") && status.contains(" 200 ") => {
                Some(body)
            }
            _ => None,
        }
    }

    /// The request as a line of a report, its start counted from `origin`
    /// (`-12ms` before it, `+40ms` after).
    pub fn describe(&self, origin: Instant) -> String {
        let at = match self.started.checked_duration_since(origin) {
            Some(after) => format!("+{after:?}"),
            None => format!("-{:?}", origin.duration_since(self.started)),
        };
        let answer = match &self.answer {
            Ok((status, body)) => format!("{status:?} {body:?}"),
            Err(err) => format!("failed: {err}"),
        };
        format!("at {at:?}, took {:?}: {answer}", self.took)
    }
}

/// The client, running on a thread of its own until finished or dropped.
pub struct BrowserLoad {
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Request>>>,
    client: Option<JoinHandle<()>>,
}

impl BrowserLoad {
    /// Starts asking `addr`.
    pub fn start(addr: SocketAddr) -> BrowserLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let client = {
            let (stop, requests) = (Arc::clone(&stop), Arc::clone(&requests));
            std::thread::spawn(move || {
                let end = Instant::now() + LIMIT;
                while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                    let started = Instant::now();
                    let answer = http_get_at(addr).map_err(|e| e.to_string());
                    let took = started.elapsed();
                    requests.lock().unwrap().push(Request {
                        started,
                        took,
                        answer,
                    });
                    std::thread::sleep(PERIOD.saturating_sub(took));
                }
            })
        };
        BrowserLoad {
            stop,
            requests,
            client: Some(client),
        }
    }

    /// How many requests have been answered or have failed so far.
    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Waits up to `limit` for a request started at `since` or later to be
    /// answered with `200`, and returns that answer's body.
    pub fn answered_since(&self, since: Instant, limit: Duration) -> Option<String> {
        let mut found = None;
        holds_within(limit, || {
            found = self
                .requests
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.started >= since)
                .find_map(|r| r.body_if_ok().map(str::to_owned));
            found.is_some()
        });
        found
    }

    /// Stops the client and returns every request it made, in order.
    pub fn finish(mut self) -> Vec<Request> {
        self.stop_client();
        std::mem::take(&mut *self.requests.lock().unwrap())
    }

    fn stop_client(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(client) = self.client.take() {
            client.join().expect("the load's client thread");
        }
    }
}

impl Drop for BrowserLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
