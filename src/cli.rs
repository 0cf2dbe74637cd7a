//! The command line, compatible with systemfd 0.4's flags.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::spec::SocketSpec;
use crate::supervise::options::{self, Signal};

const EXAMPLES: &str = "\
Examples:
  Serve http://127.0.0.1:5000/ to a server that takes its socket via listenfd:
    $ systemfd -s http::5000 -- cargo run

  Two named sockets (LISTEN_FDNAMES=web:admin), the second on all IPv6 addresses:
    $ systemfd -s web=http::5000 -s admin=tcp::[::]:5001 -- ./server

  A Unix socket and a UDP socket:
    $ systemfd -s unix::/tmp/app.sock -s udp::5353 -- ./server

  Supervise: rebuild and restart the server whenever a file under src/ changes
  (SIGHUP restarts it too; a server that sends READY=1 is replaced without a gap):
    $ systemfd -s http::5000 -w src -- cargo run

  Supervise, ignoring generated files and stopping the old server first:
    $ systemfd -s http::5000 -w . --ignore '*.gen.rs' --stop-first -- ./run.sh

Spec forms (-s):
  5000                     tcp on 127.0.0.1:5000 (port 0 picks a free port)
  HOST:PORT                tcp; HOST is an IPv4 literal, [IPv6] or a host name
  /path/to/sock, @name     Unix stream socket (@name: Linux abstract namespace)
  TYPE::VALUE              TYPE: tcp, http, https, udp, unix, unix-dgram, unix-seqpacket
  NAME=SPEC                the socket's name in LISTEN_FDNAMES (default: its TYPE)

Exit status: the command's own; 2 for a bad command line or spec, 1 when a
socket cannot be set up, 126/127 when COMMAND cannot be run / is not found.
In supervise mode (-w): 0 once SIGINT or SIGTERM has stopped the command,
128+N when a second one killed it at once.";

/// Opens listening sockets and runs a command that inherits them.
///
/// The sockets are passed with the systemd socket-activation protocol: they sit at
/// file descriptors 3, 4, … in the order given, described by LISTEN_FDS, LISTEN_PID,
/// LISTEN_FDNAMES and LISTEN_FDS_FIRST_FD. Because systemfd holds the sockets, the
/// command can restart without a single client being refused.
#[derive(Debug, Parser)]
#[command(name = "systemfd", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// A socket to open, as [NAME=][TYPE::]VALUE (repeatable; fds follow this order)
    #[arg(short = 's', long = "socket", value_name = "SPEC", value_parser = parse_spec)]
    pub sockets: Vec<SocketSpec>,

    /// The listen backlog [default: the system maximum]
    #[arg(short = 'b', long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    pub backlog: Option<i32>,

    /// Do not set SO_REUSEADDR (on Windows: do not claim the port exclusively)
    #[arg(long)]
    pub no_reuse: bool,

    /// Set SO_REUSEPORT, letting other processes bind the same port (Unix only)
    #[arg(long, conflicts_with = "no_reuse")]
    pub reuse_port: bool,

    /// Hand the sockets over in non-blocking mode (as tokio's from_std wants)
    #[arg(long)]
    pub nonblocking: bool,

    /// Do not set LISTEN_PID (for commands that run the server as a grandchild)
    #[arg(long)]
    pub no_pid: bool,

    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,

    /// When to colour the output (NO_COLOR turns `auto` off)
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Supervise: stay the parent and restart COMMAND when files under PATH change (repeatable)
    ///
    /// systemfd keeps the sockets, starts COMMAND with them (LISTEN_PID is its pid) and
    /// restarts it on a change under PATH or on SIGHUP. .gitignore and .ignore files are
    /// honoured. A command that sends READY=1 to NOTIFY_SOCKET is replaced only once its
    /// successor is ready; any other is stopped first, while the sockets hold new
    /// connections. Unix only.
    #[arg(short = 'w', long = "watch", value_name = "PATH", value_parser = options::watch_path, help_heading = "Supervise mode")]
    pub watch: Vec<PathBuf>,

    /// Ignore changes to paths matching GLOB, in .gitignore syntax (repeatable)
    #[arg(long = "ignore", value_name = "GLOB", value_parser = options::ignore_pattern, help_heading = "Supervise mode")]
    pub ignore: Vec<String>,

    /// Restart once changes have settled for this long (500ms, 1s; plain numbers are ms) [default: 100ms]
    #[arg(long, value_name = "DURATION", value_parser = options::debounce, help_heading = "Supervise mode")]
    pub debounce: Option<Duration>,

    /// The signal that stops COMMAND's process group (TERM, SIGINT, 15, …) [default: TERM]
    #[arg(long, value_name = "SIGNAL", value_parser = options::signal, help_heading = "Supervise mode")]
    pub stop_signal: Option<Signal>,

    /// How long COMMAND has to exit after the stop signal before SIGKILL (500ms, 5s; plain numbers are seconds) [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = options::stop_timeout, help_heading = "Supervise mode")]
    pub stop_timeout: Option<Duration>,

    /// Always stop the running COMMAND before starting the next, even if it reported READY=1
    #[arg(long, help_heading = "Supervise mode")]
    pub stop_first: bool,

    /// The command to run, with its arguments, after `--`
    #[arg(value_name = "COMMAND", required = true, last = true)]
    pub command: Vec<OsString>,
}

impl Cli {
    /// The supervise-mode flags given, as written on the command line.
    pub fn supervise_flags(&self) -> Vec<&'static str> {
        [
            ("--watch", !self.watch.is_empty()),
            ("--ignore", !self.ignore.is_empty()),
            ("--debounce", self.debounce.is_some()),
            ("--stop-signal", self.stop_signal.is_some()),
            ("--stop-timeout", self.stop_timeout.is_some()),
            ("--stop-first", self.stop_first),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

fn parse_spec(text: &str) -> Result<SocketSpec, crate::spec::SpecError> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_as_in_systemfd_0_4() {
        let cli = Cli::try_parse_from([
            "systemfd",
            "-s",
            "http::5000",
            "--socket",
            "udp::5001",
            "-b",
            "16",
            "--no-pid",
            "-q",
            "--color",
            "never",
            "--",
            "cargo",
            "run",
            "--",
            "-x",
        ])
        .unwrap();
        assert_eq!(cli.sockets.len(), 2);
        assert_eq!(cli.backlog, Some(16));
        assert!(cli.no_pid && cli.quiet);
        assert_eq!(cli.color, ColorChoice::Never);
        assert_eq!(cli.command, ["cargo", "run", "--", "-x"]);
    }

    #[test]
    fn bad_spec_is_a_usage_error_quoting_it() {
        let err = Cli::try_parse_from(["systemfd", "-s", "ftp::21", "--", "true"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("'ftp::21'"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn supervise_flags() {
        let cli = Cli::try_parse_from([
            "systemfd",
            "-s",
            "5000",
            "-w",
            ".",
            "--watch",
            "src",
            "--ignore",
            "*.log",
            "--debounce",
            "50",
            "--stop-signal",
            "INT",
            "--stop-timeout",
            "500ms",
            "--stop-first",
            "--",
            "cargo",
            "run",
        ])
        .unwrap();
        assert_eq!(cli.watch, [PathBuf::from("."), PathBuf::from("src")]);
        assert_eq!(cli.ignore, ["*.log"]);
        assert_eq!(cli.debounce, Some(Duration::from_millis(50)));
        assert_eq!(cli.stop_signal, Some(Signal(libc::SIGINT)));
        assert_eq!(cli.stop_timeout, Some(Duration::from_millis(500)));
        assert_eq!(
            cli.supervise_flags(),
            [
                "--watch",
                "--ignore",
                "--debounce",
                "--stop-signal",
                "--stop-timeout",
                "--stop-first"
            ]
        );
        let plain = Cli::try_parse_from(["systemfd", "--", "true"]).unwrap();
        assert!(plain.supervise_flags().is_empty());
    }

    #[test]
    fn bad_supervise_values_are_usage_errors_naming_the_flag() {
        for (flag, value) in [
            ("--watch", "/nonexistent/systemfd"),
            ("--stop-timeout", "soon"),
            ("--debounce", "5h"),
            ("--stop-signal", "NOPE"),
        ] {
            let err = Cli::try_parse_from(["systemfd", flag, value, "--", "true"]).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            let text = err.to_string();
            assert!(
                text.contains(flag) && text.contains(&format!("'{value}'")),
                "{text}"
            );
        }
    }

    #[test]
    fn command_is_required() {
        let err = Cli::try_parse_from(["systemfd", "-s", "5000"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }
}
