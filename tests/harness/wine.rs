//! Running the Windows build under Wine: the runner prefix for the Windows
//! tests (suite/windows.rs).
//!
//! The set-up builds what the tests run: the Windows binaries (target
//! `x86_64-pc-windows-gnu`, linked by mingw as `.cargo/config.toml` says) and
//! the `bcryptprimitives.dll` shim in `tests/wine/`, without which Wine 8
//! cannot start a Rust program. All of them share one fresh Wine prefix.
//!
//! It needs Wine (`/usr/lib/wine/wine64` from Debian's `wine64`, or the path
//! in `SYSTEMFD_WINE`), mingw (`gcc-mingw-w64-x86-64`) and the Rust target
//! (`rustup target add x86_64-pc-windows-gnu`). Without them build.rs has the
//! tests ignored; when one fails all the same, [`wine`] panics and says what
//! to install.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::command::wait_with_deadline;
use super::TestCommand;

const TARGET: &str = "x86_64-pc-windows-gnu";

/// How long any single wait may take: Wine starts processes slowly on a busy
/// machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Wine in a prefix of its own, and the Windows binaries it runs.
pub struct Wine {
    wine: PathBuf,
    prefix: PathBuf,
    /// Where `systemfd.exe` is; `examples\probe.exe` and `examples\hello.exe`
    /// are below it.
    bin: PathBuf,
}

/// The shared Wine set-up. Panics with what is missing when Wine cannot run
/// the Windows build.
pub fn wine() -> &'static Wine {
    static WINE: OnceLock<Result<Wine, String>> = OnceLock::new();
    match WINE.get_or_init(set_up) {
        Ok(wine) => wine,
        Err(problem) => panic!("the Windows tests cannot run under Wine: {problem}"),
    }
}

impl Wine {
    /// `wine64 PROGRAM`, run in the directory of the Windows binaries, with
    /// a pipe for stdin (the probe's `wait` reads a line from it).
    pub fn command(&self, program: &str) -> TestCommand {
        TestCommand::with_runner(&self.wine, program)
            .current_dir(&self.bin)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin_piped()
            .deadline(DEADLINE)
    }

    /// `systemfd.exe ARGS…`.
    pub fn systemfd<I, S>(&self, args: I) -> TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command("systemfd.exe").args(args)
    }

    /// `systemfd.exe ARGS…` run in `dir` (a Linux path) rather than beside
    /// the binaries.
    pub fn systemfd_in<I, S>(&self, dir: &Path, args: I) -> TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(&windows_path(&self.bin.join("systemfd.exe")))
            .current_dir(dir)
            .args(args)
    }

    /// Puts what a Rust program needs to start under Wine (the shim) in
    /// `dir`, for a program copied there.
    pub fn add_runtime(&self, dir: &Path) {
        std::fs::copy(
            self.bin.join("bcryptprimitives.dll"),
            dir.join("bcryptprimitives.dll"),
        )
        .expect("copy the shim");
    }

    /// The probe's full Windows path.
    pub fn probe(&self) -> String {
        windows_path(&self.bin.join("examples").join("probe.exe"))
    }

    /// The full Windows path of the HTTP server example (examples/hello.rs),
    /// which answers `GET` with `200` and `Hello from pid N!`.
    pub fn hello(&self) -> String {
        windows_path(&self.bin.join("examples").join("hello.exe"))
    }
}

/// The Windows path of a Linux path, as Wine's drive Z: shows it.
pub fn windows_path(path: &Path) -> String {
    let absolute = path.to_str().expect("a UTF-8 path");
    assert!(absolute.starts_with('/'), "{absolute} is not absolute");
    format!("Z:{}", absolute.replace('/', "\\"))
}

fn set_up() -> Result<Wine, String> {
    let started = Instant::now();
    let wine = std::env::var_os("SYSTEMFD_WINE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/wine/wine64"));
    if !wine.is_file() {
        return Err(format!(
            "{} does not exist (Debian: apt-get install wine64; or set SYSTEMFD_WINE)",
            wine.display()
        ));
    }
    let wineserver = wine.with_file_name("wineserver");
    if !wineserver.is_file() {
        return Err(format!("{} does not exist", wineserver.display()));
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target_dir = tmp.parent().ok_or("CARGO_TARGET_TMPDIR has no parent")?;
    build_windows_binaries(target_dir)?;
    let bin = target_dir.join(TARGET).join("debug");
    build_shim(&bin)?;
    let built = started.elapsed();
    let prefix = fresh_prefix(tmp, &wine, &wineserver)?;
    let wine = Wine { wine, prefix, bin };
    // A plain run of the probe proves that Wine can start a Rust program.
    let ran = wine.command("examples\\probe.exe").output();
    if ran.code() != Some(0) || !ran.stdout().contains("count=0") {
        return Err(format!(
            "Wine cannot run the Windows build of the probe\n{}",
            ran.report()
        ));
    }
    eprintln!(
        "Wine is ready after {:.1?} (of which building {built:.1?})",
        started.elapsed()
    );
    Ok(wine)
}

fn build_windows_binaries(target_dir: &Path) -> Result<(), String> {
    match Command::new("x86_64-w64-mingw32-gcc")
        .arg("--version")
        .output()
    {
        Ok(out) if out.status.success() => {}
        _ => {
            return Err(
                "x86_64-w64-mingw32-gcc cannot run (Debian: apt-get install gcc-mingw-w64-x86-64)"
                    .into(),
            )
        }
    }
    // `cargo test` does not hold the build lock while tests run.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--target",
            TARGET,
            "--bin",
            "systemfd",
            "--example",
            "probe",
            "--example",
            "hello",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot build the Windows binaries (is the target installed? \
             rustup target add {TARGET}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Builds `bcryptprimitives.dll` and puts it beside both programs.
fn build_shim(bin: &Path) -> Result<(), String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wine");
    let built = bin.join(format!("bcryptprimitives.dll.{}", std::process::id()));
    let out = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-shared", "-O2", "-s", "-o"])
        .arg(&built)
        .arg(source.join("bcryptprimitives.c"))
        .arg(source.join("bcryptprimitives.def"))
        .arg("-lbcrypt")
        .output()
        .map_err(|e| format!("cannot run x86_64-w64-mingw32-gcc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot build the bcryptprimitives.dll shim:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Renamed into place, so a concurrent run never loads a partial file.
    let in_examples = bin.join("examples").join(built.file_name().unwrap());
    std::fs::copy(&built, &in_examples)
        .and_then(|_| std::fs::rename(&in_examples, bin.join("examples/bcryptprimitives.dll")))
        .and_then(|()| std::fs::rename(&built, bin.join("bcryptprimitives.dll")))
        .map_err(|e| format!("cannot place the shim beside the programs: {e}"))
}

/// A new Wine prefix for this test process, with a wineserver of its own
/// that holds none of our pipes. Prefixes left by earlier test processes
/// (gone now) are removed first: each is some 700 MB.
fn fresh_prefix(tmp: &Path, wine: &Path, wineserver: &Path) -> Result<PathBuf, String> {
    if let Ok(entries) = std::fs::read_dir(tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("wine-")) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = Command::new(wineserver)
                    .arg("-k")
                    .env("WINEPREFIX", entry.path())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let prefix = tmp.join(format!("wine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    std::fs::create_dir_all(&prefix)
        .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;

    let log_path = prefix.join("wineboot.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let quiet = |program: &Path, args: &[&str]| {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("WINEPREFIX", &prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    // Wine's own processes (the server; services.exe and the like, which
    // wineboot starts) keep the stdio of whoever started them open while they
    // run, so they get none of the pipes the tests read.
    let status = quiet(wineserver, &["-p30"])
        .status()
        .map_err(|e| format!("cannot run {}: {e}", wineserver.display()))?;
    if !status.success() {
        return Err(format!("{} -p30 failed: {status}", wineserver.display()));
    }
    let mut init = quiet(wine, &["wineboot", "--init"])
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", wine.display()))?;
    let status = wait_with_deadline(&mut init, Duration::from_secs(300));
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    match status {
        Some(status) if status.success() => Ok(prefix),
        Some(status) => Err(format!("wineboot --init failed ({status}):\n{}", log())),
        None => Err(format!("wineboot --init did not finish:\n{}", log())),
    }
}
