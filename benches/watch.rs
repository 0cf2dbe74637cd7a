//! What watching costs on a project whose build output is ignored: per tree
//! size, the watches held, resident memory, the time to the first start and
//! the time from a source edit to the restart. Prints figures; asserts
//! nothing.
//!
//! ```text
//! $ cargo bench --bench watch
//! $ WATCH_SIZES=0,2000 WATCH_RUNS=3 cargo bench --bench watch
//! $ SYSTEMFD_COMPARE=/path/to/other/systemfd cargo bench --bench watch
//! $ SYSTEMFD_COMPARE_WATCHER=/path/to/watchexec cargo bench --bench watch
//! ```
//!
//! Each tree is a Git-like repository: `.git/` with 256 object directories,
//! 200 source files in `src/` and 20 directories below it, a `.gitignore`
//! naming `target/` and `node_modules/`, and those two holding, between
//! them, `WATCH_SIZES` directories (default 0, 2000, 20000 and 100000).
//! The watcher runs `echo started` in the tree's top directory, with a
//! 50 ms debounce:
//!
//! - `systemfd --debounce 50ms -w . -- echo started` (this build, and the
//!   build named by `SYSTEMFD_COMPARE`);
//! - `watchexec --debounce 50ms -w . -- echo started`, with
//!   `SYSTEMFD_COMPARE_WATCHER`.
//!
//! Per watcher and size, `WATCH_RUNS` starts (default 5): the first start is
//! the time from spawning the watcher to the command's `started` line; then,
//! once the watcher has been quiet for 300 ms, the watches (lines in
//! `/proc/PID/fdinfo` of its inotify descriptor), resident memory (`VmRSS`)
//! and one source edit, timed from the write to the next `started` line. The
//! figures are medians over the runs, and the watchers take turns within
//! each run, so a noisy machine weighs on all of them alike.
//!
//! Then polling (`--poll 500ms`), per number of watched files
//! (`POLL_SIZES`, default 1000, 10000 and 50000, 100 to a directory, and as
//! many again in an ignored `target/`): the CPU the watcher uses over
//! `POLL_SECS` seconds (default 10) once it is quiet, as a share of one
//! core (`utime` + `stime` from `/proc/PID/stat`), its resident memory,
//! and the median and longest of `POLL_EDITS` edit-to-restart times
//! (default 5), which may be up to the interval plus the debounce. With
//! `SYSTEMFD_COMPARE_WATCHER`, `watchexec --poll 500ms` runs on the same
//! trees, in turn.

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks benchmarks to list themselves.
    }
    #[cfg(target_os = "linux")]
    bench::run();
    #[cfg(not(target_os = "linux"))]
    eprintln!("the watch benchmark reads /proc: it needs Linux");
}

#[cfg(target_os = "linux")]
mod bench {
    use std::io::{BufRead as _, BufReader};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// The debounce every watcher is given.
    const DEBOUNCE: &str = "50ms";
    const DEBOUNCE_MS: f64 = 50.0;
    /// How long a watcher is left alone before it is measured.
    const SETTLE: Duration = Duration::from_millis(300);
    /// How long any start or restart may take before the run is abandoned.
    const TIMEOUT: Duration = Duration::from_secs(120);

    /// One watcher under test.
    struct Contender {
        label: String,
        program: PathBuf,
        /// Arguments before the command.
        args: Vec<String>,
    }

    /// One run's figures.
    struct Sample {
        watches: usize,
        rss_kb: u64,
        first_start: Duration,
        edit_to_restart: Duration,
    }

    pub fn run() {
        let sizes: Vec<usize> = std::env::var("WATCH_SIZES")
            .unwrap_or_else(|_| "0,2000,20000,100000".into())
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("WATCH_SIZES: numbers separated by commas")
            })
            .collect();
        let runs: usize = std::env::var("WATCH_RUNS")
            .ok()
            .map(|s| s.parse().expect("WATCH_RUNS: a number"))
            .unwrap_or(5);

        let systemfd_args = vec![
            "--debounce".into(),
            DEBOUNCE.into(),
            "-w".into(),
            ".".into(),
        ];
        let mut contenders = vec![Contender {
            label: "systemfd (this build)".into(),
            program: env!("CARGO_BIN_EXE_systemfd").into(),
            args: systemfd_args.clone(),
        }];
        if let Some(other) = std::env::var_os("SYSTEMFD_COMPARE") {
            contenders.push(Contender {
                label: "SYSTEMFD_COMPARE".into(),
                program: other.into(),
                args: systemfd_args,
            });
        }
        if let Some(watchexec) = std::env::var_os("SYSTEMFD_COMPARE_WATCHER") {
            contenders.push(Contender {
                label: "SYSTEMFD_COMPARE_WATCHER".into(),
                program: watchexec.into(),
                args: vec![
                    "--debounce".into(),
                    DEBOUNCE.into(),
                    "-w".into(),
                    ".".into(),
                ],
            });
        }

        println!(
            "{:>8} {:<26} {:>8} {:>8} {:>12} {:>16} {:>10}",
            "ignored",
            "watcher",
            "watches",
            "RSS MB",
            "1st start ms",
            "edit->restart ms",
            "- debounce"
        );
        for &size in &sizes {
            let tree = tempfile::tempdir().expect("a temporary directory");
            let tmp = tempfile::tempdir().expect("a temporary directory");
            let wanted = build_tree(tree.path(), size);
            let mut samples: Vec<Vec<Sample>> = contenders.iter().map(|_| Vec::new()).collect();
            for _ in 0..runs {
                for (contender, samples) in contenders.iter().zip(&mut samples) {
                    samples.push(measure(contender, tree.path(), tmp.path()));
                }
            }
            for (contender, samples) in contenders.iter().zip(&samples) {
                let watches = median(samples.iter().map(|s| s.watches as f64));
                let rss = median(samples.iter().map(|s| s.rss_kb as f64)) / 1024.0;
                let first = median(samples.iter().map(|s| ms(s.first_start)));
                let edit = median(samples.iter().map(|s| ms(s.edit_to_restart)));
                println!(
                    "{:>8} {:<26} {:>8} {:>8.1} {:>12.1} {:>16.1} {:>+10.1}",
                    size,
                    contender.label,
                    watches,
                    rss,
                    first,
                    edit,
                    edit - DEBOUNCE_MS
                );
            }
            println!("{:>8} ({wanted} directories not ignored, {runs} runs)", "");
        }
        poll::run(&contenders);
    }

    /// Builds the tree; returns how many directories are not ignored.
    fn build_tree(top: &Path, ignored: usize) -> usize {
        let mkdir = |p: &Path| std::fs::create_dir_all(p).expect("mkdir");
        for i in 0..256 {
            mkdir(&top.join(format!(".git/objects/{i:02x}")));
        }
        mkdir(&top.join(".git/refs/heads"));
        std::fs::write(top.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(top.join(".gitignore"), "target/\nnode_modules/\n").unwrap();
        std::fs::write(top.join("Cargo.toml"), "[package]\nname = \"tree\"\n").unwrap();
        for module in 0..20 {
            let dir = top.join(format!("src/module{module}"));
            mkdir(&dir);
            for file in 0..10 {
                std::fs::write(dir.join(format!("file{file}.rs")), "fn f() {}\n").unwrap();
            }
        }
        // Half in each, in groups of 100 (the group directory counts).
        for (name, count) in [
            ("target", ignored / 2),
            ("node_modules", ignored - ignored / 2),
        ] {
            for i in 0..count {
                let group = top.join(name).join(format!("g{}", i / 100));
                if i % 100 == 0 {
                    mkdir(&group);
                } else {
                    mkdir(&group.join(format!("d{i}")));
                }
            }
        }
        // The top, src/ and its 20 modules.
        22
    }

    fn measure(contender: &Contender, tree: &Path, tmp: &Path) -> Sample {
        let started_at = Instant::now();
        let (mut child, lines) = spawn(contender, tree, tmp);
        let first = wait_started(&lines, &mut child, contender);
        let first_start = first - started_at;
        quiet(&lines, &mut child, contender);

        let watches = watches(child.id());
        let edited = tree.join("src/module0/file0.rs");
        let text = format!("fn f() {{}} // {:?}\n", Instant::now());
        let before = Instant::now();
        std::fs::write(&edited, text).unwrap();
        let restarted = wait_started(&lines, &mut child, contender);
        let edit_to_restart = restarted - before;
        quiet(&lines, &mut child, contender);
        let rss_kb = rss_kb(child.id());

        stop(&mut child);
        Sample {
            watches,
            rss_kb,
            first_start,
            edit_to_restart,
        }
    }

    /// Runs `contender` in `tree`, its command printing `started`; the
    /// times of those lines come through the receiver.
    fn spawn(contender: &Contender, tree: &Path, tmp: &Path) -> (Child, mpsc::Receiver<Instant>) {
        let mut child = Command::new(&contender.program)
            .args(&contender.args)
            .args(["--", "echo", "started"])
            .current_dir(tree)
            .env("TMPDIR", tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", contender.program.display()));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("started") && tx.send(Instant::now()).is_err() {
                    return;
                }
            }
        });
        (child, lines)
    }

    fn wait_started(
        lines: &mpsc::Receiver<Instant>,
        child: &mut Child,
        who: &Contender,
    ) -> Instant {
        match lines.recv_timeout(TIMEOUT) {
            Ok(at) => at,
            Err(_) => {
                stop(child);
                panic!("{}: no start within {TIMEOUT:?}", who.label);
            }
        }
    }

    /// Waits until the command has not started for `SETTLE`; a start in that
    /// time (a restart the watcher made of its own accord) is a bad sign for
    /// the figures, so it is reported.
    fn quiet(lines: &mpsc::Receiver<Instant>, child: &mut Child, who: &Contender) {
        while lines.recv_timeout(SETTLE).is_ok() {
            eprintln!("{}: a start nobody asked for", who.label);
            if child.try_wait().ok().flatten().is_some() {
                panic!("{} exited", who.label);
            }
        }
    }

    /// The inotify watches `pid` holds.
    fn watches(pid: u32) -> usize {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return 0;
        };
        fds.flatten()
            .filter(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|target| target.as_os_str() == "anon_inode:inotify")
            })
            .map(|fd| {
                let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
                std::fs::read_to_string(info)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.starts_with("inotify wd:"))
                    .count()
            })
            .sum()
    }

    fn rss_kb(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn stop(child: &mut Child) {
        let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let end = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    fn median(values: impl Iterator<Item = f64>) -> f64 {
        let mut values: Vec<f64> = values.collect();
        values.sort_by(f64::total_cmp);
        match values.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        }
    }

    /// The polling rows.
    mod poll {
        use super::*;

        /// The interval every watcher is given.
        const INTERVAL: &str = "500ms";

        pub fn run(contenders: &[Contender]) {
            let sizes: Vec<usize> = std::env::var("POLL_SIZES")
                .unwrap_or_else(|_| "1000,10000,50000".into())
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse()
                        .expect("POLL_SIZES: numbers separated by commas")
                })
                .collect();
            let secs: u64 = std::env::var("POLL_SECS")
                .ok()
                .map(|s| s.parse().expect("POLL_SECS: a number"))
                .unwrap_or(10);
            let edits: usize = std::env::var("POLL_EDITS")
                .ok()
                .map(|s| s.parse().expect("POLL_EDITS: a number"))
                .unwrap_or(5);
            println!();
            println!(
                "{:>8} {:<26} {:>10} {:>8} {:>14} {:>14}",
                "files",
                "watcher (--poll 500ms)",
                "CPU % core",
                "RSS MB",
                "edit median ms",
                "edit max ms"
            );
            for &size in &sizes {
                let tree = tempfile::tempdir().expect("a temporary directory");
                let tmp = tempfile::tempdir().expect("a temporary directory");
                build_tree(tree.path(), size);
                for contender in contenders {
                    let polled = Contender {
                        label: contender.label.clone(),
                        program: contender.program.clone(),
                        args: [
                            &["--poll".to_owned(), INTERVAL.to_owned()][..],
                            &contender.args,
                        ]
                        .concat(),
                    };
                    let (cpu, rss_kb, times) =
                        measure(&polled, tree.path(), tmp.path(), secs, edits);
                    let mut sorted = times.clone();
                    sorted.sort_by(f64::total_cmp);
                    println!(
                        "{:>8} {:<26} {:>10.2} {:>8.1} {:>14.1} {:>14.1}",
                        size,
                        polled.label,
                        cpu,
                        rss_kb as f64 / 1024.0,
                        median(times.into_iter()),
                        sorted.last().copied().unwrap_or(f64::NAN)
                    );
                }
            }
            println!(
                "{:>8} (a restart is due within {INTERVAL} + {DEBOUNCE} debounce + 50 ms)",
                ""
            );
        }

        /// `files` watched files, 100 to a directory under `src/`, and as
        /// many in an ignored `target/`.
        fn build_tree(top: &Path, files: usize) {
            std::fs::write(top.join(".gitignore"), "target/\n").unwrap();
            std::fs::create_dir(top.join(".git")).unwrap();
            for (dir, count) in [("src", files), ("target", files)] {
                for i in 0..count {
                    let group = top.join(dir).join(format!("g{}", i / 100));
                    if i % 100 == 0 {
                        std::fs::create_dir_all(&group).unwrap();
                    }
                    std::fs::write(group.join(format!("f{i}.rs")), "fn f() {}\n").unwrap();
                }
            }
        }

        /// The CPU share of a core over `secs` seconds, the resident memory
        /// after, and `edits` edit-to-restart times in ms.
        fn measure(
            contender: &Contender,
            tree: &Path,
            tmp: &Path,
            secs: u64,
            edits: usize,
        ) -> (f64, u64, Vec<f64>) {
            let (mut child, lines) = spawn(contender, tree, tmp);
            wait_started(&lines, &mut child, contender);
            // A full interval and more, so that a start-up scan is over.
            std::thread::sleep(Duration::from_secs(1));
            quiet(&lines, &mut child, contender);

            let before = (cpu_ticks(child.id()), Instant::now());
            std::thread::sleep(Duration::from_secs(secs));
            let ticks = cpu_ticks(child.id()) - before.0;
            // /proc counts in USER_HZ, 100 a second on Linux.
            let cpu = ticks as f64 / 100.0 / before.1.elapsed().as_secs_f64() * 100.0;
            let rss_kb = rss_kb(child.id());

            let mut times = Vec::new();
            for edit in 0..edits {
                let edited = tree.join("src/g0/f0.rs");
                let at = Instant::now();
                std::fs::write(&edited, format!("fn f() {{}} // {edit} {at:?}\n")).unwrap();
                let restarted = wait_started(&lines, &mut child, contender);
                times.push(ms(restarted - at));
                quiet(&lines, &mut child, contender);
                // Edits at different points of the interval, and more than
                // a second apart: notify's PollWatcher, which watchexec
                // polls with, compares modification times in whole
                // seconds, and misses a second edit within the same one.
                std::thread::sleep(Duration::from_millis(1100 + 137 * edit as u64 % 500));
            }
            stop(&mut child);
            (cpu, rss_kb, times)
        }

        /// `utime` + `stime` of `pid`, in clock ticks.
        fn cpu_ticks(pid: u32) -> u64 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The fields after the command name, which ends with the last ')'.
            let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15; `rest` starts at field 3.
            let field = |n: usize| {
                fields
                    .get(n - 3)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            field(14) + field(15)
        }
    }
}
