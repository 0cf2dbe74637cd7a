//! Supervise mode at a real terminal: a pseudo-terminal from Python's `pty`
//! module stands for the user's terminal.
#![cfg(unix)]

mod util;

use util::{systemfd_path, temp_dir, TestCommand};

/// Runs systemfd with `args` on a fresh pseudo-terminal (stdin, stdout and
/// stderr), reads what the terminal shows until `until` appears, then sends
/// SIGTERM and returns everything shown, bytes as they came.
const PTY_RUNNER: &str = r#"
import os, pty, select, signal, subprocess, sys, time
until = sys.argv[1].encode()
master, slave = pty.openpty()
child = subprocess.Popen(sys.argv[2:], stdin=slave, stdout=slave, stderr=slave)
os.close(slave)
shown = b""
end = time.monotonic() + 20
def read(limit):
    global shown
    while time.monotonic() < limit:
        ready, _, _ = select.select([master], [], [], max(0.0, limit - time.monotonic()))
        if not ready:
            return
        try:
            chunk = os.read(master, 4096)
        except OSError:
            return
        if not chunk:
            return
        shown += chunk
        if until and until in shown:
            return
read(end)
found = until in shown
child.send_signal(signal.SIGTERM)
until = b""
read(time.monotonic() + 2)
child.wait(timeout=20)
sys.stdout.write(shown.hex())
sys.exit(0 if found else 3)
"#;

fn at_a_terminal(dir: &std::path::Path, until: &str, args: &[&str]) -> String {
    let ran = TestCommand::new("python3")
        .current_dir(dir)
        .args(["-c", PTY_RUNNER, until])
        .arg(systemfd_path())
        .args(args)
        .output();
    let hex = ran.stdout();
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let shown = String::from_utf8_lossy(&bytes).into_owned();
    assert_eq!(
        ran.code(),
        Some(0),
        "{until:?} never appeared on the terminal:\n{shown}\n{}",
        ran.report()
    );
    shown
}

#[test]
fn clear_clears_the_terminal_before_each_start() {
    let dir = temp_dir();
    let shown = at_a_terminal(
        dir.path(),
        "command is up",
        &[
            "-w",
            ".",
            "--clear",
            "--",
            "sh",
            "-c",
            "echo command is up; sleep 60",
        ],
    );
    let clear = shown
        .find("\u{1b}[2J")
        .unwrap_or_else(|| panic!("no clear sequence:\n{shown:?}"));
    let started = shown.find("started pid").expect("a start line");
    assert!(clear < started, "cleared after the start line:\n{shown:?}");
    assert!(
        shown[clear..].contains("\u{1b}[3J"),
        "the scrollback is kept:\n{shown:?}"
    );
}

#[test]
fn without_clear_nothing_is_cleared() {
    let dir = temp_dir();
    let shown = at_a_terminal(
        dir.path(),
        "command is up",
        &["-w", ".", "--", "sh", "-c", "echo command is up; sleep 60"],
    );
    assert!(!shown.contains("\u{1b}[2J"), "{shown:?}");
}

/// Starts systemfd as the session leader of a fresh pseudo-terminal (its
/// controlling terminal), waits for `started pid N`, then closes the
/// terminal as a terminal window does and waits for systemfd to exit.
/// Prints `exit STATUS` and `command N`.
const HANG_UP: &str = r#"
import os, pty, re, select, sys, time
pid, master = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
shown = b""
end = time.monotonic() + 20
while b"started pid" not in shown or not re.search(rb"started pid \d+\D", shown):
    ready, _, _ = select.select([master], [], [], max(0.0, end - time.monotonic()))
    if not ready:
        sys.exit("no start line: %r" % shown)
    shown += os.read(master, 4096)
command = re.search(rb"started pid (\d+)", shown).group(1).decode()
os.close(master)
end = time.monotonic() + 20
while time.monotonic() < end:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("exit", os.waitstatus_to_exitcode(status))
        print("command", command)
        sys.exit(0)
    time.sleep(0.01)
sys.exit("systemfd did not exit after its terminal closed")
"#;

#[cfg(target_os = "linux")]
#[test]
fn closing_the_terminal_stops_the_command_and_systemfd() {
    let dir = temp_dir();
    let ran = TestCommand::new("python3")
        .current_dir(dir.path())
        .args(["-c", HANG_UP])
        .arg(systemfd_path())
        .args(["-s", "0", "-w", ".", "--", "sleep", "60"])
        .output()
        .assert_code(0);
    let out = ran.stdout();
    let command: u32 = out
        .lines()
        .find_map(|l| l.strip_prefix("command "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", ran.report()));
    assert!(out.contains("exit 0"), "{}", ran.report());
    let stat = std::fs::read_to_string(format!("/proc/{command}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "the command outlived its terminal: {stat}"
    );
}
