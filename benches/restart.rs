//! Restarts under load: how many requests fail, and how long they wait,
//! while a server that takes 200 ms to start is restarted 20 times. Prints
//! figures; asserts nothing.
//!
//! ```text
//! $ cargo bench --bench restart
//! $ RESTARTS=5 CLIENTS=8 cargo bench --bench restart
//! $ SYSTEMFD_COMPARE=/path/to/other/systemfd cargo bench --bench restart
//! $ ROWS=node cargo bench --bench restart    # the rows whose label has "node"
//! ```
//!
//! The load is closed-connection HTTP on 127.0.0.1: `CLIENTS` clients, each
//! opening a new connection per request and starting one every 5 ms (or at
//! once, when the last took longer). The server is `examples/hello.rs`
//! (compiled into this program) with `--start-ms 200`, in these set-ups:
//!
//! - **rebind**: no systemfd; the server binds its own port, and a restart
//!   stops it, then starts the next one.
//! - **exec mode**: `systemfd --no-pid -s http::PORT -- RESTARTER`, the way
//!   systemfd 0.4 is used with cargo-watch or watchexec in between. The
//!   restarter (this program's `restarter` role) runs the server with the
//!   inherited socket and, on SIGHUP, stops it and starts the next one.
//!   With `SYSTEMFD_COMPARE` set, the same again with that systemfd build
//!   (say systemfd 0.4, whose backlog of 1 shows in the latencies).
//! - **supervise --stop-first**: `systemfd -s http::PORT -w DIR --stop-first
//!   -- SERVER`; SIGHUP restarts.
//! - **supervise**: the same without `--stop-first`: the server reports
//!   `READY=1`, so the next one takes over before the old one stops.
//! - **no READY=1, 1.5 s start**: the server sends nothing and starts
//!   through `sh -c 'sleep 1.5; exec …'`, standing for `cargo run`
//!   compiling; once with `--stop-first --ready notify` (what any such
//!   server got before systemfd could see it listen, and systemfd does not
//!   look), once as is: on Linux systemfd sees the new one waiting on the
//!   socket and hands over then. The driver sees the first set-up's servers
//!   ready by their own `hello: serving` line.
//! - **adopted**: `examples/hello.js` under Node (skipped without `node` on
//!   `PATH`), which binds its own port with `listen(port)` after the same
//!   1.5 s, in supervise mode with no flag: on Linux systemfd adopts its
//!   bind (the server gets systemfd's socket) and sees it listen.
//!
//! After each restart the driver waits for the new server's `READY=1` (sent
//! to the driver's own socket, or seen in systemfd's `~> ready:` line), then
//! lets it serve for 300 ms before the next restart.
//!
//! For the supervised set-ups, the last columns give systemfd's own CPU time
//! per restart, from `/proc` (Linux): all its threads (in clock ticks, so
//! 10 ms steps), and its main thread alone, which runs the event loop and
//! the looks at starting children (nanoseconds, from `schedstat`).

#[cfg(unix)]
#[path = "../examples/hello.rs"]
#[allow(dead_code)]
mod hello;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks benchmarks to list themselves.
    }
    #[cfg(unix)]
    match std::env::args().nth(1).as_deref() {
        Some("server") => {
            // The example server, with the start-up time this benchmark is about.
            let mut args = vec!["--start-ms".to_owned(), "200".to_owned()];
            args.extend(std::env::args().skip(2));
            if let Err(err) = hello::serve(args) {
                eprintln!("server: {err}");
                std::process::exit(1);
            }
        }
        Some("restarter") => bench::restarter(),
        _ => bench::main(),
    }
    #[cfg(not(unix))]
    eprintln!("the restart benchmark needs Unix");
}

#[cfg(unix)]
mod bench {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::os::unix::net::UnixDatagram;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::{Duration, Instant};

    use rustix::process::{kill_process, Pid, Signal};

    /// How long the server takes to start (its default).
    const START: Duration = Duration::from_millis(200);
    /// The delay before the servers that send no `READY=1` listen.
    const DELAY: Duration = Duration::from_millis(1500);
    /// Each client starts a request at most this often.
    const INTERVAL: Duration = Duration::from_millis(5);
    /// How long a new server serves before the next restart.
    const SETTLE: Duration = Duration::from_millis(300);
    /// How long any request, start or stop may take before it counts as hung.
    const TIMEOUT: Duration = Duration::from_secs(10);

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Setup {
        Rebind,
        Exec,
        /// Exec mode with the systemfd build named by `SYSTEMFD_COMPARE`.
        ExecCompare,
        StopFirst,
        Supervise,
        /// No `READY=1`, a 1.5 s delay, `--stop-first`.
        SilentStopFirst,
        /// No `READY=1`, a 1.5 s delay; systemfd sees it listen.
        Silent,
        /// A Node server that binds its own port after 1.5 s; systemfd
        /// adopts its bind and sees it listen.
        Adopted,
    }

    impl Setup {
        fn label(self) -> &'static str {
            match self {
                Setup::Rebind => "rebind (no systemfd)",
                Setup::Exec => "exec mode + restarter (--no-pid)",
                Setup::ExecCompare => "SYSTEMFD_COMPARE, exec + restarter",
                Setup::StopFirst => "supervise --stop-first",
                Setup::Supervise => "supervise (READY=1 handover)",
                Setup::SilentStopFirst => "no READY=1, 1.5 s: stop-first",
                Setup::Silent => "no READY=1, 1.5 s: seen listening",
                Setup::Adopted => "node listen(port), 1.5 s: adopted",
            }
        }

        fn supervised(self) -> bool {
            matches!(
                self,
                Setup::StopFirst
                    | Setup::Supervise
                    | Setup::SilentStopFirst
                    | Setup::Silent
                    | Setup::Adopted
            )
        }
    }

    fn setting(name: &str, default: usize) -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    pub fn main() {
        let restarts = setting("RESTARTS", 20);
        let clients = setting("CLIENTS", 16);
        let rows = std::env::var("ROWS").unwrap_or_default();
        println!(
            "restart benchmark: {restarts} restarts of a server that takes {} ms to start;",
            START.as_millis()
        );
        println!(
            "{clients} clients on 127.0.0.1, a new connection per request, one request per client every {} ms at most",
            INTERVAL.as_millis()
        );
        println!();
        println!(
            "{:<34} {:>8} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9}  failures",
            "set-up", "requests", "failed", "p50 ms", "p99 ms", "max ms", "cpu/rst", "loop/rst"
        );
        let compare = std::env::var_os("SYSTEMFD_COMPARE").map(|_| Setup::ExecCompare);
        let node = has_node();
        let setups = [Setup::Rebind, Setup::Exec]
            .into_iter()
            .chain(compare)
            .chain([
                Setup::StopFirst,
                Setup::Supervise,
                Setup::SilentStopFirst,
                Setup::Silent,
            ])
            .chain(node.then_some(Setup::Adopted))
            .filter(|setup| setup.label().contains(&rows));
        for setup in setups {
            let outcome = measure(setup, restarts, clients);
            println!("{}", outcome.row(setup.label(), restarts));
        }
        println!();
        println!("cpu/rst: systemfd's CPU ms per restart, all threads (10 ms ticks);");
        println!("loop/rst: its main thread's (event loop and looks at starting children).");
        if !node {
            println!("(no `node` on PATH: the adopted row is left out)");
        }
    }

    /// Whether `node` runs, for the adopted row.
    fn has_node() -> bool {
        Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// The system under test: what gets signalled, and where readiness shows.
    struct System {
        setup: Setup,
        port: u16,
        /// Holds the driver's notify socket and the watched directory.
        dir: tempfile::TempDir,
        /// The server (rebind), the restarter (exec: systemfd exec'd it) or systemfd.
        process: Child,
        ready: mpsc::Receiver<()>,
        ready_tx: mpsc::Sender<()>,
    }

    impl System {
        fn start(setup: Setup, port: u16) -> System {
            let dir = tempfile::tempdir().expect("temporary directory");
            std::fs::create_dir(dir.path().join("watched")).expect("watched directory");
            let socket =
                UnixDatagram::bind(dir.path().join("notify")).expect("bind the notify socket");
            let (ready_tx, ready) = mpsc::channel();
            let tx = ready_tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while let Ok(len) = socket.recv(&mut buf) {
                    if buf[..len].split(|&b| b == b'\n').any(|l| l == b"READY=1") {
                        let _ = tx.send(());
                    }
                }
            });
            let process = launch(setup, port, dir.path(), &ready_tx);
            System {
                setup,
                port,
                dir,
                process,
                ready,
                ready_tx,
            }
        }

        fn wait_ready(&self) {
            self.ready
                .recv_timeout(TIMEOUT)
                .expect("the server did not report READY=1 in time");
        }

        fn restart(&mut self) {
            match self.setup {
                Setup::Rebind => {
                    signal(&self.process, Signal::TERM);
                    wait(&mut self.process);
                    self.process = launch(self.setup, self.port, self.dir.path(), &self.ready_tx);
                }
                _ => signal(&self.process, Signal::HUP),
            }
        }

        fn stop(mut self) {
            signal(&self.process, Signal::TERM);
            wait(&mut self.process);
        }

        /// systemfd's CPU time so far: all threads, and the main thread.
        fn cpu(&self) -> Option<Cpu> {
            if !self.setup.supervised() {
                return None;
            }
            Cpu::of(self.process.id())
        }
    }

    /// Starts `setup`'s top process; readiness reaches `ready_tx` either
    /// through `dir/notify` or through systemfd's `~> ready:` lines.
    fn launch(setup: Setup, port: u16, dir: &Path, ready_tx: &mpsc::Sender<()>) -> Child {
        let me = std::env::current_exe().expect("own path");
        let systemfd = env!("CARGO_BIN_EXE_systemfd");
        let http = format!("http::{port}");
        let supervised = setup.supervised();
        let mut command = match setup {
            Setup::Rebind => {
                let mut c = Command::new(&me);
                c.args(["server", "--bind", &port.to_string()]);
                c
            }
            Setup::Exec | Setup::ExecCompare => {
                let mut c = match std::env::var_os("SYSTEMFD_COMPARE") {
                    Some(other) if setup == Setup::ExecCompare => Command::new(other),
                    _ => Command::new(systemfd),
                };
                c.args(["-q", "--no-pid", "-s", &http, "--"])
                    .arg(&me)
                    .arg("restarter");
                c
            }
            Setup::StopFirst | Setup::Supervise => {
                let mut c = Command::new(systemfd);
                c.args(["-s", &http, "-w"]).arg(dir.join("watched"));
                if setup == Setup::StopFirst {
                    c.arg("--stop-first");
                }
                c.arg("--").arg(&me).arg("server");
                c
            }
            Setup::SilentStopFirst | Setup::Silent => {
                let mut c = Command::new(systemfd);
                c.args(["-s", &http, "-w"]).arg(dir.join("watched"));
                if setup == Setup::SilentStopFirst {
                    c.args(["--stop-first", "--ready", "notify"]);
                }
                // The server never learns where READY=1 would go.
                let script = format!(
                    "sleep {}; exec env -u NOTIFY_SOCKET \"$0\" server",
                    DELAY.as_secs_f64()
                );
                c.args(["--", "sh", "-c", &script]).arg(&me);
                c
            }
            Setup::Adopted => {
                let mut c = Command::new(systemfd);
                c.args(["-s", &http, "-w"]).arg(dir.join("watched"));
                let server = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello.js");
                let delay = DELAY.as_millis().to_string();
                c.args(["--", "node", server, "--port", &port.to_string()])
                    .args(["--delay-ms", &delay]);
                c
            }
        };
        command
            .env("NOTIFY_SOCKET", dir.join("notify"))
            .stdin(Stdio::null());
        // Piped when systemfd reports readiness there; otherwise only the
        // server's own start-up lines would arrive, which the table does without.
        command.stderr(if supervised {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = command.spawn().expect("start the system under test");
        if supervised {
            // systemfd gives the server a NOTIFY_SOCKET of its own and says
            // `~> ready: pid N after M ms`.
            // Without looking, only the server itself can say it serves.
            let sign = match setup {
                Setup::SilentStopFirst => "hello: serving",
                _ => "~> ready: ",
            };
            let stderr = child.stderr.take().expect("piped");
            let tx = ready_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains(sign) {
                        let _ = tx.send(());
                    }
                }
            });
        }
        child
    }

    fn signal(child: &Child, signal: Signal) {
        let pid = Pid::from_raw(child.id() as i32).expect("a pid");
        let _ = kill_process(pid, signal);
    }

    fn wait(child: &mut Child) {
        let end = Instant::now() + TIMEOUT;
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                panic!("a process did not stop within {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn measure(setup: Setup, restarts: usize, clients: usize) -> Outcome {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut system = System::start(setup, port);
        system.wait_ready();
        let load = Load::start(port, clients);
        std::thread::sleep(SETTLE);
        let before = system.cpu();
        for _ in 0..restarts {
            system.restart();
            system.wait_ready();
            std::thread::sleep(SETTLE);
        }
        let mut outcome = load.finish();
        outcome.cpu = before.zip(system.cpu()).map(|(a, b)| b.since(&a));
        system.stop();
        outcome
    }

    /// CPU time, from `/proc/PID/stat` (all threads) and the main thread's
    /// `/proc/PID/schedstat`.
    #[derive(Clone, Copy, Debug, Default)]
    struct Cpu {
        all: Duration,
        main: Duration,
    }

    impl Cpu {
        fn of(pid: u32) -> Option<Cpu> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After "(comm)": state is field 3; utime and stime are 14 and 15.
            let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
            let ticks: u64 =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            let schedstat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
            let main_ns: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
            Some(Cpu {
                // USER_HZ is 100 on every Linux this runs on.
                all: Duration::from_millis(ticks * 10),
                main: Duration::from_nanos(main_ns),
            })
        }

        fn since(&self, earlier: &Cpu) -> Cpu {
            Cpu {
                all: self.all.saturating_sub(earlier.all),
                main: self.main.saturating_sub(earlier.main),
            }
        }
    }

    /// Why a request failed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Failure {
        Refused,
        Reset,
        TimedOut,
        BadAnswer,
        Other,
    }

    /// One request: how long it took, and why it failed if it did.
    type Sample = (Duration, Option<Failure>);

    struct Load {
        stop: Arc<AtomicBool>,
        clients: Vec<std::thread::JoinHandle<Vec<Sample>>>,
    }

    impl Load {
        fn start(port: u16, clients: usize) -> Load {
            let stop = Arc::new(AtomicBool::new(false));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let clients = (0..clients)
                .map(|_| {
                    let stop = Arc::clone(&stop);
                    std::thread::spawn(move || {
                        let mut samples = Vec::new();
                        while !stop.load(Ordering::Relaxed) {
                            let begun = Instant::now();
                            let failure = request(addr).err();
                            samples.push((begun.elapsed(), failure));
                            if let Some(rest) = INTERVAL.checked_sub(begun.elapsed()) {
                                std::thread::sleep(rest);
                            }
                        }
                        samples
                    })
                })
                .collect();
            Load { stop, clients }
        }

        fn finish(self) -> Outcome {
            self.stop.store(true, Ordering::Relaxed);
            let mut outcome = Outcome::default();
            for client in self.clients {
                for (latency, failure) in client.join().expect("client thread") {
                    match failure {
                        None => outcome.latencies.push(latency),
                        Some(failure) => outcome.failures.push(failure),
                    }
                }
            }
            outcome
        }
    }

    fn request(addr: SocketAddr) -> Result<(), Failure> {
        let classify = |err: std::io::Error| match err.kind() {
            std::io::ErrorKind::ConnectionRefused => Failure::Refused,
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                Failure::Reset
            }
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Failure::TimedOut,
            _ => Failure::Other,
        };
        let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(classify)?;
        stream.set_read_timeout(Some(TIMEOUT)).map_err(classify)?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            .map_err(classify)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).map_err(classify)?;
        if answer.starts_with(b"HTTP/1.1 200 OK\r\n") && answer.ends_with(b"\n") {
            Ok(())
        } else {
            Err(Failure::BadAnswer)
        }
    }

    #[derive(Default)]
    struct Outcome {
        latencies: Vec<Duration>,
        failures: Vec<Failure>,
        /// systemfd's CPU time over the restarts (supervised set-ups).
        cpu: Option<Cpu>,
    }

    impl Outcome {
        fn row(mut self, label: &str, restarts: usize) -> String {
            self.latencies.sort();
            let at = |q: f64| -> f64 {
                if self.latencies.is_empty() {
                    return f64::NAN;
                }
                let index = ((self.latencies.len() - 1) as f64 * q).round() as usize;
                self.latencies[index].as_secs_f64() * 1000.0
            };
            self.failures.sort();
            let mut kinds: Vec<String> = Vec::new();
            for kind in [
                Failure::Refused,
                Failure::Reset,
                Failure::TimedOut,
                Failure::BadAnswer,
                Failure::Other,
            ] {
                let count = self.failures.iter().filter(|f| **f == kind).count();
                if count > 0 {
                    kinds.push(format!("{kind:?} {count}").to_lowercase());
                }
            }
            let per_restart = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / restarts.max(1) as f64;
            let (all, main) = match self.cpu {
                Some(cpu) => (
                    format!("{:.1}", per_restart(cpu.all)),
                    format!("{:.2}", per_restart(cpu.main)),
                ),
                None => ("-".into(), "-".into()),
            };
            format!(
                "{:<34} {:>8} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>9} {:>9}  {}",
                label,
                self.latencies.len() + self.failures.len(),
                self.failures.len(),
                at(0.5),
                at(0.99),
                at(1.0),
                all,
                main,
                if kinds.is_empty() {
                    "-".into()
                } else {
                    kinds.join(", ")
                }
            )
        }
    }

    /// Exec mode's restarter, as cargo-watch or watchexec behave: runs the
    /// server with the socket it inherited from systemfd and, on SIGHUP,
    /// stops it (SIGTERM, then waits) and starts the next one. SIGTERM or
    /// SIGINT stops the server and ends the restarter.
    pub fn restarter() {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals =
            signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM]).expect("signals");
        let me = std::env::current_exe().expect("own path");
        let start = || {
            Command::new(&me)
                .arg("server")
                .spawn()
                .expect("start the server")
        };
        let mut server = start();
        for received in signals.forever() {
            signal(&server, Signal::TERM);
            let _ = server.wait();
            if received != SIGHUP {
                return;
            }
            server = start();
        }
    }
}
