//! The socket-activation environment, as systemd and the `listenfd` crate
//! read it, and the one place where COMMAND's environment is built.
//!
//! See `docs/protocol.md`. The variables are computed here, portably, from
//! plain values; the platform code only decides where the sockets go and,
//! for `LISTEN_PID`, which process the command is.

use std::ffi::{OsStr, OsString};

use crate::socket_server;

/// The first descriptor of the passed sockets (`SD_LISTEN_FDS_START`, from
/// systemd's `sd_listen_fds(3)`).
pub const FIRST_FD: i32 = 3;

/// The `sd_notify` variable: the path of the datagram socket a service
/// reports readiness on (systemd's `sd_notify(3)`). Unix only: on Windows a
/// child is ready once it fetched its sockets.
#[cfg(unix)]
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// `LISTEN_FDS`: how many sockets are passed (`sd_listen_fds(3)`).
const LISTEN_FDS: &str = "LISTEN_FDS";
/// `LISTEN_PID`: the pid the sockets are meant for (`sd_listen_fds(3)`).
pub const LISTEN_PID: &str = "LISTEN_PID";
/// `LISTEN_PIDFDID`: the pidfd inode id of that process (systemd 258 and
/// later, `sd_listen_fds(3)`), so that a reader tells its own process from
/// another that reused the pid. Set with `LISTEN_PID` where the kernel
/// gives pidfds an id (Linux 6.9+, pidfs), in decimal.
pub const LISTEN_PIDFDID: &str = "LISTEN_PIDFDID";
/// `LISTEN_FDNAMES`: the sockets' names, `:`-separated
/// (`sd_listen_fds_with_names(3)`).
const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";
/// `LISTEN_FDS_FIRST_FD`: where the sockets start, for the `listenfd`
/// crate (`docs/protocol.md`).
const LISTEN_FDS_FIRST_FD: &str = "LISTEN_FDS_FIRST_FD";

/// `SYSTEMFD_LIVERELOAD_URL`: where the LiveReload client script is
/// (`--livereload`), for a development template to include.
pub const LIVERELOAD_URL: &str = "SYSTEMFD_LIVERELOAD_URL";

/// The variables an outer provider (an outer systemfd) may have left in the
/// environment: the socket-passing ones of both protocols, and the
/// LiveReload script's URL. None of them reaches COMMAND unless systemfd
/// sets it anew, so stale values from an outer run never leak.
pub const STALE_VARIABLES: [&str; 8] = [
    LISTEN_FDS,
    LISTEN_PID,
    LISTEN_PIDFDID,
    LISTEN_FDNAMES,
    LISTEN_FDS_FIRST_FD,
    socket_server::SERVER_VAR,
    socket_server::SECRET_VAR,
    LIVERELOAD_URL,
];

/// How the printed line names the place socket `index` is handed over:
/// `fd #3` on Unix, `socket #0` on Windows (its position in the socket
/// server's reply).
pub fn target_label(index: usize) -> String {
    if cfg!(unix) {
        format!("fd #{}", FIRST_FD as usize + index)
    } else {
        format!("socket #{index}")
    }
}

/// Duplicates `sockets` above the fds they are passed at (3…), so that a
/// start can move them there without closing one it still needs (Unix).
///
/// # Errors
/// When a socket cannot be duplicated (out of descriptors).
#[cfg(unix)]
pub fn stage(sockets: &crate::socket::Sockets) -> anyhow::Result<Vec<std::os::fd::OwnedFd>> {
    use anyhow::Context as _;
    crate::sys::stage(&sockets.fds(), FIRST_FD + sockets.len() as i32)
        .context("cannot duplicate a socket")
}

/// COMMAND as it is started: program, arguments and the whole environment.
///
/// Built once per run from plain values and used by exec mode and by every
/// start of supervise mode, on every platform, so the rules (which inherited
/// variables are dropped, when `LISTEN_PID` is set) live here only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// COMMAND and its arguments; never empty.
    pub command: Vec<OsString>,
    /// Every variable COMMAND gets, in order, names unique.
    pub env: Vec<(OsString, OsString)>,
    /// Whether COMMAND's own pid goes into `LISTEN_PID`, and its pidfd id
    /// into `LISTEN_PIDFDID` where it has one. Only the platform knows them
    /// (exec keeps systemfd's; a forked child learns its own), so the
    /// variables themselves are set there, under [`LISTEN_PID`] and
    /// [`LISTEN_PIDFDID`].
    pub listen_pid: bool,
}

impl Invocation {
    /// `command` (never empty) with the `inherited` environment, less every
    /// socket-passing variable an outer provider may have left
    /// ([`STALE_VARIABLES`]).
    pub fn new(
        command: &[OsString],
        inherited: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Invocation {
        assert!(!command.is_empty(), "COMMAND is never empty");
        let env = inherited
            .into_iter()
            .filter(|(key, _)| !STALE_VARIABLES.iter().any(|name| is_named(key, name)))
            .collect();
        Invocation {
            command: command.to_vec(),
            env,
            listen_pid: false,
        }
    }

    /// Adds the variables for `count` sockets named `fd_names` (the
    /// `LISTEN_FDNAMES` value, colon-separated). On Unix: `LISTEN_FDS`,
    /// `LISTEN_FDNAMES`, `LISTEN_FDS_FIRST_FD`, and `LISTEN_PID` (with
    /// `LISTEN_PIDFDID` where there is one) when `set_pid` (`--no-pid` turns
    /// them off). On Windows only `LISTEN_FDNAMES`,
    /// for consumers that want the names: the sockets come from the socket
    /// server, whatever the command's pid. Nothing when `count` is 0.
    pub fn with_sockets(mut self, count: usize, fd_names: &str, set_pid: bool) -> Invocation {
        if count == 0 {
            return self;
        }
        if cfg!(unix) {
            self.set(LISTEN_FDS, count.to_string());
            self.set(LISTEN_FDNAMES, fd_names);
            self.set(LISTEN_FDS_FIRST_FD, FIRST_FD.to_string());
            self.listen_pid = set_pid;
        } else {
            self.set(LISTEN_FDNAMES, fd_names);
        }
        self
    }

    /// Sets the variable `key` (one of the protocols' names) to `value`,
    /// replacing any value it had.
    pub fn set(&mut self, key: &str, value: impl AsRef<OsStr>) {
        self.env.retain(|(name, _)| !is_named(name, key));
        self.env.push((key.into(), value.as_ref().to_owned()));
    }

    /// COMMAND's program.
    pub fn program(&self) -> &OsStr {
        &self.command[0]
    }

    /// A [`std::process::Command`] that runs COMMAND with exactly this
    /// environment (`LISTEN_PID` and `LISTEN_PIDFDID` aside).
    pub fn to_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(self.program());
        command
            .args(&self.command[1..])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }
}

/// The variables that keep colours on in the build's output, which goes
/// through a pipe: cargo's, and the common conventions of other tools
/// (`CLICOLOR_FORCE`: bixense.com/clicolors; `FORCE_COLOR`: Node's and
/// Python's tools).
const COLOUR_VARIABLES: [(&str, &str); 3] = [
    ("CARGO_TERM_COLOR", "always"),
    ("CLICOLOR_FORCE", "1"),
    ("FORCE_COLOR", "1"),
];

/// The build step (`--build`): `line` through the shell (`sh -c`; Windows:
/// `cmd /C`, whose host passes `line` as it is), with the `inherited`
/// environment less every socket-passing variable (the build gets no
/// socket, nor an outer `NOTIFY_SOCKET`). With `colour` (systemfd's own
/// lines are coloured: see `--color`), the variables that keep colours on
/// in a pipe are set, unless the user set them.
pub fn build_step(
    line: &OsStr,
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
    colour: bool,
) -> Invocation {
    // `--`: a line that starts with `-` is a command, not an option.
    let shell: &[&str] = if cfg!(windows) {
        &["cmd", "/C"]
    } else {
        &["/bin/sh", "-c", "--"]
    };
    let shell = shell.iter().map(OsString::from);
    let command: Vec<OsString> = shell.chain([line.to_owned()]).collect();
    let mut invocation = Invocation::new(&command, inherited);
    // Nor does it report readiness to an outer service manager.
    #[cfg(unix)]
    invocation.env.retain(|(key, _)| key != NOTIFY_SOCKET);
    if colour {
        for (name, value) in COLOUR_VARIABLES {
            if !invocation.env.iter().any(|(key, _)| is_named(key, name)) {
                invocation.set(name, value);
            }
        }
    }
    invocation
}

/// Whether the variable `key` is `name`: exactly on Unix, regardless of case
/// on Windows, where the environment's names are.
fn is_named(key: &OsStr, name: &str) -> bool {
    if cfg!(windows) {
        key.to_string_lossy().eq_ignore_ascii_case(name)
    } else {
        key == name
    }
}

#[cfg(test)]
mod tests;

/// Whether `program` (COMMAND's first word) can be found as a start would
/// find it ([`crate::sys::resolve`], execvp's search of `PATH`), and, for a
/// name with a `/`, whether it is there. Whether a file found that way may
/// be run (not a directory) is left to the start, which says why not.
///
/// # Errors
/// `NotFound` when there is no such file; `PermissionDenied` for a file in
/// `PATH` without the execute bit.
#[cfg(unix)]
pub fn find_program(program: &OsStr) -> std::io::Result<()> {
    let path = std::env::var_os("PATH");
    let found = crate::sys::resolve(program, path.as_deref())
        .and_then(|found| std::fs::metadata(&found).map(drop));
    match found {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file or directory (looked for before waiting for the first connection)",
        )),
        found => found,
    }
}
