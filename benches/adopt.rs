//! Adoption's cost per `bind()` (Linux). With adoption on (supervise mode's
//! default, `--adopt` in exec mode), every `bind()` and `listen()` of the
//! command's process tree waits while a thread of systemfd looks at it
//! (seccomp user notification). Prints figures; asserts nothing.
//!
//! ```text
//! $ cargo bench --bench adopt
//! $ BINDS=5000 ROUNDS=31 cargo bench --bench adopt
//! ```
//!
//! This program, run again in its `binds` role, makes `BINDS` (2000) fresh
//! TCP sockets one after another, binds each and closes it, and prints the
//! mean and median time of the `bind()` calls alone. Three variants, run in
//! turn `ROUNDS` (15) times after one warm-up round, so that a busy machine
//! slows each alike:
//!
//! - **plain**: binds to 127.0.0.1:0, no systemfd.
//! - **goes through**: the same under `systemfd --adopt -q -s 0 --` (exec
//!   mode). systemfd reads each address and looks at the descriptor, then
//!   lets the call go through as made (`CONTINUE`): what every bind that is
//!   not to a passed address costs an adopting program.
//! - **adopted**: the same systemfd, but each bind names the passed
//!   socket's address (read from `LISTEN_FDS` through `listenfd`): systemfd
//!   puts its socket in place of the fresh one (`ADDFD`) and answers
//!   success. A server does this once per start, and its `listen()` one
//!   round trip more.
//!
//! The figures are medians over the rounds of each run's mean and median
//! per bind; the extra and the ratio compare the means with plain's.

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks benchmarks to list themselves.
    }
    #[cfg(target_os = "linux")]
    {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.first().map(String::as_str) {
            Some("binds") => {
                if let Err(err) = bench::binds(&args[1..]) {
                    eprintln!("binds: {err}");
                    std::process::exit(1);
                }
            }
            _ => bench::main(),
        }
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("the adoption benchmark needs Linux");
}

#[cfg(target_os = "linux")]
mod bench {
    use std::io;
    use std::net::SocketAddr;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use socket2::{Domain, Socket, Type};

    #[derive(Clone, Copy)]
    enum Variant {
        Plain,
        Through,
        Adopted,
    }

    impl Variant {
        const ALL: [Variant; 3] = [Variant::Plain, Variant::Through, Variant::Adopted];

        fn label(self) -> &'static str {
            match self {
                Variant::Plain => "plain bind 127.0.0.1:0",
                Variant::Through => "--adopt, bind 127.0.0.1:0 (goes through)",
                Variant::Adopted => "--adopt, bind the passed address (adopted)",
            }
        }

        fn command(self, binds: usize) -> Command {
            let me = std::env::current_exe().expect("own path");
            let mut command = match self {
                Variant::Plain => Command::new(&me),
                Variant::Through | Variant::Adopted => {
                    let mut c = Command::new(env!("CARGO_BIN_EXE_systemfd"));
                    c.args(["--adopt", "-q", "-s", "0", "--"]).arg(&me);
                    c
                }
            };
            command.args(["binds", &binds.to_string()]);
            if let Variant::Adopted = self {
                command.arg("passed");
            }
            command
        }
    }

    /// One run's figures per bind.
    #[derive(Clone, Copy)]
    struct Run {
        mean: Duration,
        median: Duration,
    }

    fn setting(name: &str, default: usize) -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .unwrap_or(default)
    }

    pub fn main() {
        let binds = setting("BINDS", 2000);
        let rounds = setting("ROUNDS", 15);
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); Variant::ALL.len()];
        for round in 0..=rounds {
            for (variant, runs) in Variant::ALL.into_iter().zip(&mut runs) {
                match run(variant, binds) {
                    // Round 0 warms the caches.
                    Ok(one) if round > 0 => runs.push(one),
                    Ok(_) => {}
                    Err(err) => {
                        println!("{}: {err}", variant.label());
                        println!("(adoption needs Linux 5.9 or later, with seccomp)");
                        return;
                    }
                }
            }
        }

        println!(
            "adoption's cost per bind(): {binds} fresh TCP sockets per run, {rounds} interleaved runs each"
        );
        println!();
        println!(
            "{:<44} {:>8} {:>8} {:>9} {:>7}",
            "bind", "mean µs", "p50 µs", "extra µs", "ratio"
        );
        let medians: Vec<Run> = runs.iter_mut().map(|runs| median(runs)).collect();
        let plain = micros(medians[0].mean);
        for (variant, run) in Variant::ALL.into_iter().zip(&medians) {
            let mean = micros(run.mean);
            let (extra, ratio) = match variant {
                Variant::Plain => ("-".to_owned(), "-".to_owned()),
                _ => (
                    format!("{:+.2}", mean - plain),
                    format!("{:.1}x", mean / plain),
                ),
            };
            println!(
                "{:<44} {:>8.2} {:>8.2} {:>9} {:>7}",
                variant.label(),
                mean,
                micros(run.median),
                extra,
                ratio
            );
        }
        println!();
        println!("mean µs, p50 µs: medians over the runs of each run's mean and median bind();");
        println!("extra µs, ratio: the mean against plain's.");
    }

    fn run(variant: Variant, binds: usize) -> Result<Run, String> {
        let output = variant
            .command(binds)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("cannot start: {err}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!("{}: {}", output.status, stderr.trim()));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let figures: Vec<u64> = stdout
            .split_whitespace()
            .filter_map(|word| word.parse().ok())
            .collect();
        match figures[..] {
            [mean, median] => Ok(Run {
                mean: Duration::from_nanos(mean),
                median: Duration::from_nanos(median),
            }),
            _ => Err(format!("unexpected output {stdout:?}")),
        }
    }

    /// The run with the median mean, and the median of the runs' medians.
    fn median(runs: &mut [Run]) -> Run {
        let middle = runs.len() / 2;
        runs.sort_unstable_by_key(|run| run.median);
        let median = runs[middle].median;
        runs.sort_unstable_by_key(|run| run.mean);
        Run {
            mean: runs[middle].mean,
            median,
        }
    }

    fn micros(d: Duration) -> f64 {
        d.as_secs_f64() * 1e6
    }

    /// The `binds COUNT [passed]` role: COUNT binds of fresh sockets, to
    /// 127.0.0.1:0 or (`passed`) to the address of the socket passed at fd
    /// 3; prints the mean and median bind in nanoseconds.
    pub fn binds(args: &[String]) -> io::Result<()> {
        let count: usize = args
            .first()
            .and_then(|a| a.parse().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| io::Error::other("usage: binds COUNT [passed]"))?;
        let addr = match args.get(1).map(String::as_str) {
            Some("passed") => listenfd::ListenFd::from_env()
                .take_tcp_listener(0)?
                .ok_or_else(|| io::Error::other("no socket passed (LISTEN_FDS)"))?
                .local_addr()?,
            _ => SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            let begun = Instant::now();
            socket.bind(&addr.into())?;
            times.push(begun.elapsed());
        }
        let mean = times.iter().sum::<Duration>() / count as u32;
        times.sort_unstable();
        println!("{} {}", mean.as_nanos(), times[count / 2].as_nanos());
        Ok(())
    }
}
