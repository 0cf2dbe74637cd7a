//! Live reload: how soon after a new server starts waiting for connections
//! a page that `--livereload` reloads shows it. Prints figures; asserts
//! nothing.
//!
//! ```text
//! $ cargo bench --bench livereload
//! $ EDITS=5 cargo bench --bench livereload
//! $ ROWS=compile cargo bench --bench livereload   # the rows whose label has "compile"
//! $ VERBOSE=1 cargo bench --bench livereload      # systemfd's output, each edit
//! ```
//!
//! systemfd runs as `systemfd -s http::0 -w DIR --livereload 127.0.0.1:0 --
//! SERVER`, SERVER being `examples/hello.rs` (compiled into this program)
//! with `--start-ms 300 --say-listening`, in these set-ups:
//!
//! - **hello, 300 ms start**: the server itself;
//! - **3 s compile + hello**: `sh -c 'sleep 3; exec SERVER'`, standing for
//!   `cargo run` compiling (the server still sends `READY=1`, as the
//!   environment passes through `cargo run`);
//! - **3 s compile, no READY=1**: the same, with `NOTIFY_SOCKET` removed,
//!   so that only systemfd's looks at the starting server (every tenth of
//!   its time so far, at most 50 ms apart) can see it ready.
//!
//! The page is a WebSocket client of the LiveReload protocol (version 7):
//! on each `reload` it sends `GET /` to the app's port at once and notes
//! which pid answered, and when. Each row makes `EDITS` edits (default 10)
//! of a file in DIR, one at least every 2 s, and the next only after the
//! previous one's reload (or 10 s without one) and 300 ms more.
//!
//! Per edit, `listen` is the moment the new server starts waiting for
//! connections (the server's own `hello: listening at NS` line, which
//! systemfd passes through) and `shown` the moment the page's `GET` after the
//! reload was answered by the new server; the table gives the median and
//! maximum of `shown - listen`, and of `seen - listen`, `seen` being when
//! systemfd's `~> ready:` line for the new server reached this program.
//! `old/503` counts the reloads whose `GET` was answered by another pid or
//! not with 200 OK (or failed); `no reload` the edits that brought no
//! reload within 10 s; `cpu/edit` is systemfd's CPU time per edit over all
//! its threads (utime + stime from `/proc/PID/stat`, in 10 ms ticks).

#[cfg(target_os = "linux")]
#[path = "../examples/hello.rs"]
#[allow(dead_code)]
mod hello;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks benchmarks to list themselves.
    }
    #[cfg(target_os = "linux")]
    match std::env::args().nth(1).as_deref() {
        Some("server") => {
            if let Err(err) = hello::serve(std::env::args().skip(2).collect()) {
                eprintln!("server: {err}");
                std::process::exit(1);
            }
        }
        _ => bench::main(),
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("the livereload benchmark reads /proc: it needs Linux");
}

#[cfg(target_os = "linux")]
mod bench {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::{SocketAddr, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use rustix::process::{kill_process, Pid, Signal};

    /// The server's start-up time.
    const START_MS: &str = "300";
    /// The "compile" before it, in seconds.
    const COMPILE: &str = "3";
    /// Edits come at most this often…
    const EDIT_EVERY: Duration = Duration::from_secs(2);
    /// … and this long after the previous edit's reload at the earliest.
    const SETTLE: Duration = Duration::from_millis(300);
    /// An edit with no reload within this long counts as missed.
    const NO_RELOAD: Duration = Duration::from_secs(10);
    /// How long systemfd and its first server may take to start.
    const TIMEOUT: Duration = Duration::from_secs(30);
    /// What the issue asks for: `shown - listen`, median and maximum.
    const TARGET_P50_MS: f64 = 100.0;
    const TARGET_MAX_MS: f64 = 250.0;

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Setup {
        Plain,
        Compile,
        CompileSilent,
    }

    impl Setup {
        fn label(self) -> &'static str {
            match self {
                Setup::Plain => "hello, 300 ms start",
                Setup::Compile => "3 s compile + hello",
                Setup::CompileSilent => "3 s compile, no READY=1",
            }
        }

        /// COMMAND, after `--`.
        fn command(self) -> Vec<String> {
            let me = std::env::current_exe()
                .expect("own path")
                .to_string_lossy()
                .into_owned();
            let server = format!("\"$0\" server --start-ms {START_MS} --say-listening");
            let script = |env: &str| format!("sleep {COMPILE}; exec {env}{server}");
            match self {
                Setup::Plain => vec![
                    me,
                    "server".into(),
                    "--start-ms".into(),
                    START_MS.into(),
                    "--say-listening".into(),
                ],
                Setup::Compile => vec!["sh".into(), "-c".into(), script(""), me],
                Setup::CompileSilent => vec![
                    "sh".into(),
                    "-c".into(),
                    script("env -u NOTIFY_SOCKET "),
                    me,
                ],
            }
        }
    }

    fn setting(name: &str, default: usize) -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    pub fn main() {
        let edits = setting("EDITS", 10);
        let rows = std::env::var("ROWS").unwrap_or_default();
        println!(
            "live reload benchmark: {edits} edits per row; the server takes {START_MS} ms to start;"
        );
        println!("a page reloads on LiveReload's `reload` and GETs / at once");
        println!();
        println!(
            "{:<26} {:>5} {:>8} {:>8} {:>9} {:>9} {:>8} {:>10} {:>9}",
            "set-up",
            "edits",
            "p50 ms",
            "max ms",
            "seen p50",
            "seen max",
            "old/503",
            "no reload",
            "cpu/edit"
        );
        let mut notes = Vec::new();
        let setups = [Setup::Plain, Setup::Compile, Setup::CompileSilent]
            .into_iter()
            .filter(|setup| setup.label().contains(&rows));
        for setup in setups {
            let mut outcome = measure(setup, edits);
            println!("{}", outcome.row(setup.label(), edits));
            notes.extend(
                outcome
                    .notes
                    .iter()
                    .map(|note| format!("{}: {note}", setup.label())),
            );
        }
        println!();
        println!("p50/max: shown - listen, ms: from the new server waiting for connections");
        println!("  to the page's GET after the reload answered by it (target: p50 under");
        println!(
            "  {TARGET_P50_MS} ms, max under {TARGET_MAX_MS} ms); seen: to systemfd's `~> ready:` line;"
        );
        println!("old/503: reloads whose GET the old server answered, or not 200 OK;");
        println!("no reload: edits with no reload within 10 s; cpu/edit: systemfd's CPU ms");
        println!("per edit, all threads (10 ms ticks).");
        for note in notes {
            println!("{note}");
        }
    }

    /// `VERBOSE` set: systemfd's output and each edit's figures on stderr.
    fn verbose() -> bool {
        std::env::var_os("VERBOSE").is_some()
    }

    /// What systemfd's stderr says, as it arrives.
    enum News {
        /// `~> socket http://127.0.0.1:PORT/ -> fd #3`
        App(u16),
        /// `~> live reload: http://127.0.0.1:PORT/livereload.js …`
        LiveReload(u16),
        /// `hello: listening at NS (pid N)`, from the server.
        Listening { at: Duration, pid: u32 },
        /// `~> ready: pid N after …`, and when it arrived.
        Ready { at: Duration, pid: u32 },
    }

    /// The time since the Unix epoch, the clock the server's lines use.
    fn now() -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("a clock after 1970")
    }

    /// The port of `http://IP:PORT/…` in `text`.
    fn port_in(text: &str) -> Option<u16> {
        let rest = text.split("http://").nth(1)?;
        let host = rest.split('/').next()?;
        host.rsplit(':').next()?.parse().ok()
    }

    fn parse(line: &str) -> Option<News> {
        if let Some(rest) = line.strip_prefix("hello: listening at ") {
            let (ns, pid) = rest.split_once(" (pid ")?;
            return Some(News::Listening {
                at: Duration::from_nanos(ns.parse().ok()?),
                pid: pid.trim_end_matches(')').parse().ok()?,
            });
        }
        if let Some(rest) = line.strip_prefix("~> ready: pid ") {
            return Some(News::Ready {
                at: now(),
                pid: rest.split_whitespace().next()?.parse().ok()?,
            });
        }
        if let Some(rest) = line.strip_prefix("~> socket ") {
            return port_in(rest).map(News::App);
        }
        if let Some(rest) = line.strip_prefix("~> live reload: http://") {
            return port_in(&format!("http://{rest}")).map(News::LiveReload);
        }
        None
    }

    /// systemfd under test, its watched directory and its news.
    struct System {
        process: Child,
        dir: tempfile::TempDir,
        news: Receiver<News>,
        app: u16,
        livereload: u16,
    }

    impl System {
        fn start(setup: Setup) -> System {
            let dir = tempfile::tempdir().expect("temporary directory");
            let watched = dir.path().join("watched");
            std::fs::create_dir(&watched).expect("watched directory");
            let mut process = Command::new(env!("CARGO_BIN_EXE_systemfd"))
                .args(["-s", "http::0", "-w"])
                .arg(&watched)
                .args(["--livereload", "127.0.0.1:0", "--"])
                .args(setup.command())
                .env_remove("NOTIFY_SOCKET")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start systemfd");
            let stderr = process.stderr.take().expect("piped");
            let (tx, news) = mpsc::channel();
            let verbose = verbose();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if verbose {
                        eprintln!("  | {line}");
                    }
                    if let Some(item) = parse(&line) {
                        let _ = tx.send(item);
                    }
                }
            });
            let mut system = System {
                process,
                dir,
                news,
                app: 0,
                livereload: 0,
            };
            // The ports, then the first server listening and ready.
            let end = Instant::now() + TIMEOUT;
            let (mut listening, mut ready) = (false, false);
            while system.app == 0 || system.livereload == 0 || !listening || !ready {
                match system.next_news(end) {
                    Some(News::App(port)) => system.app = port,
                    Some(News::LiveReload(port)) => system.livereload = port,
                    Some(News::Listening { .. }) => listening = true,
                    Some(News::Ready { .. }) => ready = true,
                    None => panic!("systemfd did not start its server within {TIMEOUT:?}"),
                }
            }
            system
        }

        fn next_news(&self, until: Instant) -> Option<News> {
            self.news
                .recv_timeout(until.saturating_duration_since(Instant::now()))
                .ok()
        }

        fn edit(&self, n: usize) {
            let path = self.dir.path().join("watched").join("page.html");
            std::fs::write(path, format!("<p>edit {n}</p>\n")).expect("edit");
        }

        /// systemfd's CPU time so far, all threads: utime + stime.
        fn cpu(&self) -> Option<Duration> {
            let pid = self.process.id();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After "(comm)": state is field 3; utime and stime are 14 and 15.
            let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
            let ticks: u64 =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            // USER_HZ is 100 on every Linux this runs on.
            Some(Duration::from_millis(ticks * 10))
        }

        fn stop(mut self) {
            let pid = Pid::from_raw(self.process.id() as i32).expect("a pid");
            let _ = kill_process(pid, Signal::TERM);
            let end = Instant::now() + TIMEOUT;
            while self.process.try_wait().expect("try_wait").is_none() {
                if Instant::now() > end {
                    let _ = self.process.kill();
                    let _ = self.process.wait();
                    panic!("systemfd did not stop within {TIMEOUT:?}");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// What the page saw after one `reload`.
    struct Shown {
        /// When the `reload` arrived.
        reloaded: Duration,
        /// When the GET's answer was read.
        answered: Duration,
        /// The status code and the pid in the body, or why the GET failed.
        answer: Result<(u16, Option<u32>), String>,
    }

    /// A page: a LiveReload client that GETs `/` on every `reload`.
    /// Returns once the server's hello has arrived.
    fn open_page(livereload: u16, app: u16) -> Receiver<Shown> {
        let stream = TcpStream::connect(("127.0.0.1", livereload)).expect("connect to livereload");
        stream.set_nodelay(true).expect("nodelay");
        let url = format!("ws://127.0.0.1:{livereload}/livereload");
        let (mut socket, _) = tungstenite::client(url.as_str(), stream)
            .unwrap_or_else(|err| panic!("WebSocket handshake: {err}"));
        socket
            .send(tungstenite::Message::text(
                r#"{"command":"hello","protocols":["http://livereload.com/protocols/official-7"]}"#,
            ))
            .expect("send hello");
        socket
            .get_ref()
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        match socket.read().expect("the server's hello") {
            tungstenite::Message::Text(text) if text.as_str().contains(r#""command":"hello""#) => {}
            other => panic!("expected the server's hello, got {other:?}"),
        }
        socket.get_ref().set_read_timeout(None).expect("no timeout");
        let (tx, shown) = mpsc::channel();
        std::thread::spawn(move || {
            // Ends when systemfd closes the connection.
            while let Ok(message) = socket.read() {
                let tungstenite::Message::Text(text) = message else {
                    continue;
                };
                if !text.as_str().contains(r#""command":"reload""#) {
                    continue;
                }
                let reloaded = now();
                let answer = get(app);
                let answered = now();
                let shown = Shown {
                    reloaded,
                    answered,
                    answer,
                };
                if tx.send(shown).is_err() {
                    return;
                }
            }
        });
        shown
    }

    /// `GET /` on the app's port: the status code and the pid that answered.
    fn get(port: u16) -> Result<(u16, Option<u32>), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream =
            TcpStream::connect_timeout(&addr, NO_RELOAD).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(NO_RELOAD))
            .map_err(|e| e.to_string())?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: page\r\nConnection: close\r\n\r\n")
            .map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .map_err(|e| format!("read: {e}"))?;
        let answer = String::from_utf8_lossy(&answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not HTTP: {answer:?}"))?;
        let pid = answer
            .split("Hello from pid ")
            .nth(1)
            .and_then(|rest| rest.split('!').next())
            .and_then(|pid| pid.parse().ok());
        Ok((status, pid))
    }

    #[derive(Default)]
    struct Outcome {
        /// `shown - listen` per edit that showed the new server.
        shown: Vec<Duration>,
        /// `seen - listen` per edit.
        seen: Vec<Duration>,
        wrong: usize,
        missed: usize,
        cpu: Option<Duration>,
        notes: Vec<String>,
    }

    fn measure(setup: Setup, edits: usize) -> Outcome {
        let system = System::start(setup);
        let page = open_page(system.livereload, system.app);
        std::thread::sleep(SETTLE);
        while page.try_recv().is_ok() {}
        while system.news.try_recv().is_ok() {}
        let mut outcome = Outcome::default();
        let mut extra = 0;
        let before = system.cpu();
        for n in 0..edits {
            let edited = Instant::now();
            system.edit(n);
            let shown = match page.recv_timeout(NO_RELOAD) {
                Ok(shown) => shown,
                Err(RecvTimeoutError::Timeout) => {
                    outcome.missed += 1;
                    while system.news.try_recv().is_ok() {}
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    outcome.notes.push("the page lost its connection".into());
                    outcome.missed += edits - n;
                    break;
                }
            };
            // The new server's lines: both came before the reload, but
            // their reader may lag a little behind.
            let (mut listening, mut ready) = (None, None);
            let end = Instant::now() + Duration::from_secs(1);
            loop {
                let news = match listening.is_some() && ready.is_some() {
                    true => system.news.try_recv().ok(),
                    false => system.next_news(end),
                };
                match news {
                    Some(News::Listening { at, pid }) => listening = Some((at, pid)),
                    Some(News::Ready { at, pid }) => ready = Some((at, pid)),
                    Some(_) => {}
                    None => break,
                }
            }
            let Some((listen, new_pid)) = listening else {
                outcome.notes.push(format!(
                    "edit {n}: a reload came but no new server said it listens"
                ));
                outcome.wrong += 1;
                continue;
            };
            if let Some((at, _)) = ready.filter(|&(_, pid)| pid == new_pid) {
                outcome.seen.push(at.saturating_sub(listen));
            }
            if verbose() {
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                let seen = ready.map_or(f64::NAN, |(at, _)| ms(at.saturating_sub(listen)));
                eprintln!(
                    "edit {n}: pid {new_pid}: seen {seen:.1} ms, reload {:.1} ms, shown {:.1} ms after listen",
                    ms(shown.reloaded.saturating_sub(listen)),
                    ms(shown.answered.saturating_sub(listen)),
                );
            }
            match shown.answer {
                Ok((200, Some(pid))) if pid == new_pid => {
                    outcome.shown.push(shown.answered.saturating_sub(listen));
                }
                answer => {
                    outcome.wrong += 1;
                    let got = match answer {
                        Ok((status, pid)) => format!("status {status}, pid {pid:?}"),
                        Err(err) => err,
                    };
                    outcome.notes.push(format!(
                        "edit {n}: the GET {:.1} ms after the reload got {got}, not pid {new_pid}",
                        (shown.answered.saturating_sub(shown.reloaded)).as_secs_f64() * 1000.0
                    ));
                }
            }
            let next = (edited + EDIT_EVERY).max(Instant::now() + SETTLE);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            while page.try_recv().is_ok() {
                extra += 1;
            }
        }
        outcome.cpu = before.zip(system.cpu()).map(|(a, b)| b.saturating_sub(a));
        if extra > 0 {
            outcome
                .notes
                .push(format!("{extra} more reloads than one per edit"));
        }
        system.stop();
        outcome
    }

    impl Outcome {
        fn row(&mut self, label: &str, edits: usize) -> String {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let median = |v: &mut Vec<Duration>| -> f64 {
                v.sort();
                v.get(v.len().saturating_sub(1) / 2)
                    .map_or(f64::NAN, |&d| ms(d))
            };
            let max = |v: &[Duration]| v.iter().max().map_or(f64::NAN, |&d| ms(d));
            let cpu = match self.cpu {
                Some(cpu) => format!("{:.1}", ms(cpu) / edits.max(1) as f64),
                None => "-".into(),
            };
            format!(
                "{:<26} {:>5} {:>8.1} {:>8.1} {:>9.1} {:>9.1} {:>8} {:>10} {:>9}",
                label,
                edits,
                median(&mut self.shown),
                max(&self.shown),
                median(&mut self.seen),
                max(&self.seen),
                self.wrong,
                self.missed,
                cpu
            )
        }
    }
}
