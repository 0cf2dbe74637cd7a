//! Supervise mode at a real terminal: a pseudo-terminal from Python's `pty`
//! module stands for the user's terminal.

#[cfg(target_os = "linux")]
use crate::harness::process::alive;
use crate::harness::{systemfd_path, temp_dir, TestCommand};

#[test]
fn clear_clears_the_terminal_before_each_start() {
    in_a_shell(
        r#"send "$SYSTEMFD" -w . --clear -- sh -c 'echo command is up; sleep 60'\r
expect \x1b\[H\x1b\[2J\x1b\[3J
expect command is up
send \x03
expect status 0|stopped pid"#,
    );
}

#[test]
fn a_cleared_terminal_still_shows_where_the_sockets_are() {
    in_a_shell(
        r#"send "$SYSTEMFD" -s http::0 -w . --clear -- sh -c 'echo command is up; sleep 60'\r
expect \x1b\[H\x1b\[2J\x1b\[3J
expect socket .{0,8}http://127\.0\.0\.1:\d+/.{0,8} -> fd #3
expect command is up
send \x03
expect status 0|stopped pid"#,
    );
}

#[test]
fn without_clear_nothing_is_cleared() {
    let shown = in_a_shell(
        r#"send "$SYSTEMFD" -w . -- sh -c 'echo command is up; sleep 60'\r
expect [^ ]command is up
send \x03
expect stopped pid"#,
    );
    assert!(!shown.contains("\u{1b}[2J"), "{shown:?}");
}

/// Starts systemfd as the session leader of a fresh pseudo-terminal (its
/// controlling terminal), waits for `started pid N`, then closes the
/// terminal as a terminal window does and waits for systemfd to exit.
/// Prints `exit STATUS` and `command N`.
#[cfg(target_os = "linux")]
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
    assert!(
        !alive(command),
        "the command outlived its terminal\n{}",
        ran.report()
    );
}

/// Drives an interactive bash on a fresh pseudo-terminal through `steps`
/// (one per line): `send TEXT` types TEXT (`\r`, `\x03` for Ctrl-C and
/// `\x1a` for Ctrl-Z are understood), `expect REGEX` waits for REGEX in
/// what the terminal shows after the last match (the terminal echoes what
/// is typed: a pattern must not match the command line itself), `sane`
/// checks that the
/// terminal echoes and edits lines (not raw mode). Exits 0 when every step
/// passed, and prints the whole transcript.
const SHELL_DRIVER: &str = r#"
import os, pty, re, select, sys, termios, time
steps = sys.argv[1].split("\n")
env = dict(os.environ, PS1="$ ", TERM="dumb")
pid, master = pty.fork()
if pid == 0:
    os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)
shown, mark = b"", 0
def read(until):
    global shown
    while time.monotonic() < until:
        ready, _, _ = select.select([master], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            return
        try:
            chunk = os.read(master, 4096)
        except OSError:
            return
        if not chunk:
            return
        shown += chunk
        return
failed = None
for step in steps:
    if not step:
        continue
    verb, _, arg = step.partition(" ")
    if verb == "send":
        os.write(master, arg.encode().decode("unicode_escape").encode())
    elif verb == "expect":
        end = time.monotonic() + 10
        while True:
            found = re.search(arg.encode(), shown[mark:])
            if found:
                mark += found.end()
                break
            if time.monotonic() > end:
                failed = "no " + arg
                break
            read(end)
    elif verb == "sane":
        lflag = termios.tcgetattr(master)[3]
        if not (lflag & termios.ICANON and lflag & termios.ECHO and lflag & termios.ISIG):
            failed = "the terminal was left in raw mode"
    if failed:
        break
# Closing the terminal hangs up bash, which hangs up its jobs.
os.close(master)
end = time.monotonic() + 10
gone = False
while not gone and time.monotonic() < end:
    gone = os.waitpid(pid, os.WNOHANG)[0] != 0
    time.sleep(0.05)
if not gone:
    os.kill(pid, 9)
print(shown.decode(errors="replace"))
sys.exit("step failed: " + failed if failed else 0)
"#;

/// Runs `steps` in bash at a terminal, in a fresh directory, with
/// `$SYSTEMFD` the binary under test.
fn in_a_shell(steps: &str) -> String {
    let dir = temp_dir();
    let ran = TestCommand::new("python3")
        .current_dir(dir.path())
        .env("SYSTEMFD", systemfd_path())
        .args(["-c", SHELL_DRIVER, steps])
        .output();
    assert_eq!(ran.code(), Some(0), "{}", ran.report());
    ran.stdout()
}

#[test]
fn the_command_can_read_the_terminal_and_ctrl_c_still_ends_everything() {
    in_a_shell(
        r#"send "$SYSTEMFD" -w . -- sh -c 'echo ask; read line; echo "got $line"; exec sleep 60'\r
expect \nask\r
send hello\r
expect got hello
send \x03
send echo status=$?\r
expect status=0"#,
    );
}

/// Stopped is `T`; or `D` for a shell stopped while it waited for a
/// `vfork` child that the same Ctrl-Z stopped (`T`) before its exec.
#[test]
fn ctrl_z_suspends_the_command_and_fg_resumes_it() {
    in_a_shell(
        r#"send "$SYSTEMFD" -w . --ignore child.pid -- sh -c 'echo $$ > child.pid; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done'\r
expect tick 2
send \x1a
expect Stopped
send p=$(cat child.pid); for i in 1 2 3 4 5 6 7 8 9 10; do s=$(awk '{print $3}' /proc/$p/stat); for k in $(cat /proc/$p/task/$p/children); do s=$s$(awk '{print $3}' /proc/$k/stat); done; case $s in T*|DT) s=T; break;; esac; sleep 0.2; done; echo state=$s\r
expect state=T
send fg\r
expect tick [0-9]+
expect tick [0-9]+
send \x03
send echo status=$?\r
expect status=0"#,
    );
}

#[test]
fn a_command_leaving_raw_mode_on_does_not_leave_it_to_the_user() {
    in_a_shell(
        r#"send "$SYSTEMFD" -w . -- sh -c 'stty raw -echo; echo in raw mode; exit 3'\r
expect \nin raw mode
expect exited with status 3
sane
send \x03
send echo status=$?\r
expect status=0"#,
    );
}
