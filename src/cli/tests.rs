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

#[test]
fn poll_takes_an_optional_interval_in_ms_and_excludes_no_poll() {
    use crate::config::Poll;
    let poll = |args: &[&str]| {
        let mut all = vec!["systemfd", "-w", "."];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--", "true"]);
        let config = Cli::try_parse_from(all)?.into_config().unwrap();
        let Mode::Supervise(supervise) = config.mode else {
            panic!("-w selects supervise mode");
        };
        Ok::<_, clap::Error>(supervise.poll)
    };
    let ms = Duration::from_millis;
    assert_eq!(poll(&["--poll"]).unwrap(), Poll::Always(ms(500)));
    assert_eq!(poll(&["--poll", "1s"]).unwrap(), Poll::Always(ms(1000)));
    assert_eq!(poll(&["--poll=250"]).unwrap(), Poll::Always(ms(250)));
    assert_eq!(poll(&["--no-poll"]).unwrap(), Poll::Never);
    assert_eq!(poll(&[]).unwrap(), Poll::Auto(ms(500)));
    assert!(poll(&["--poll", "--no-poll"]).is_err());
    assert!(poll(&["--poll=0"]).is_err());
    assert!(poll(&["--poll=soon"]).is_err());
}

#[test]
fn exts_split_on_commas_and_filters_are_patterns() {
    let config = Cli::try_parse_from([
        "systemfd", "-w", ".", "-e", "rs,.toml", "--exts", "py", "-f", "*.html", "--", "true",
    ])
    .unwrap()
    .into_config()
    .unwrap();
    let Mode::Supervise(supervise) = config.mode else {
        panic!("-w selects supervise mode");
    };
    assert_eq!(supervise.exts, ["rs", "toml", "py"]);
    assert_eq!(supervise.filter, ["*.html"]);
    for bad in [
        &["-e", "rs,"][..],
        &["-e", "*.rs"],
        &["--filter", "!x"],
        &["-f", "a{"],
    ] {
        let mut args = vec!["systemfd", "-w", "."];
        args.extend_from_slice(bad);
        args.extend_from_slice(&["--", "true"]);
        assert!(Cli::try_parse_from(&args).is_err(), "{bad:?}");
    }
    // Without -w, a watching flag says what it needs.
    let err = Cli::try_parse_from(["systemfd", "-e", "rs", "--", "true"])
        .unwrap()
        .into_config()
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("--exts applies only in supervise mode"),
        "{err:#}"
    );
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

#[cfg(unix)]
#[test]
fn the_help_states_the_defaults_that_apply() {
    use crate::config::Supervise;
    // Wrapping may break a line anywhere between words.
    let help = Cli::command().render_long_help().to_string();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for stated in [
        format!("[default: {}ms]", Supervise::DEFAULT_DEBOUNCE.as_millis()),
        format!("[default: {}s]", Supervise::DEFAULT_STOP_TIMEOUT.as_secs()),
        format!(
            "[default: {}]",
            Supervise::DEFAULT_STOP_SIGNAL.name().unwrap()
        ),
    ] {
        assert!(help.contains(&stated), "the help lacks {stated}:\n{help}");
    }
}

#[cfg(unix)]
#[test]
fn defaults_are_applied_once_into_the_config() {
    use crate::config::Supervise;
    let config = Cli::try_parse_from(["systemfd", "-w", ".", "--", "true"])
        .unwrap()
        .into_config()
        .unwrap();
    let Mode::Supervise(supervise) = config.mode else {
        panic!("-w selects supervise mode");
    };
    assert_eq!(
        supervise,
        Supervise {
            watch: vec![PathBuf::from(".")],
            ignore: vec![],
            exts: vec![],
            filter: vec![],
            default_ignore: true,
            global_ignore: true,
            poll: crate::config::Poll::Auto(crate::config::Poll::DEFAULT_INTERVAL),
            debounce: Supervise::DEFAULT_DEBOUNCE,
            stop_signal: Signal::TERM,
            stop_timeout: Supervise::DEFAULT_STOP_TIMEOUT,
            stop_first: false,
            signal_on_change: None,
            clear: false,
            // Without a socket there is nothing to be seen listening on.
            ready: crate::config::Readiness::Notify,
            error_page: true,
            livereload: None,
            idle_stop: None,
        }
    );
    assert!(config.launch.set_pid);
    assert_eq!(config.launch.build, None);
    assert_eq!(config.socket_options.backlog, i32::MAX);
}

#[cfg(unix)]
#[test]
fn ready_is_checked_against_what_can_be_seen() {
    use crate::config::Readiness;
    let ready = |args: &[&str]| -> Result<Readiness, Failure> {
        let mut all = vec!["systemfd", "-w", "."];
        all.extend_from_slice(args);
        all.extend(["--", "true"]);
        match Cli::try_parse_from(all).unwrap().into_config()?.mode {
            Mode::Supervise(supervise) => Ok(supervise.ready),
            Mode::Exec => panic!("-w selects supervise mode"),
        }
    };
    // Listening can be seen on Linux, on a passed socket only.
    let seen = if cfg!(target_os = "linux") {
        Readiness::Auto
    } else {
        Readiness::Notify
    };
    assert_eq!(ready(&["-s", "0"]).unwrap(), seen);
    assert_eq!(ready(&[]).unwrap(), Readiness::Notify);
    assert_eq!(
        ready(&["-s", "0", "--ready", "notify"]).unwrap(),
        Readiness::Notify
    );
    assert_eq!(ready(&["-s", "0", "--ready", "auto"]).unwrap(), seen);
    let err = ready(&["--ready", "listen"]).unwrap_err();
    assert_eq!(err.code, crate::error::EXIT_USAGE);
    if cfg!(target_os = "linux") {
        assert_eq!(
            ready(&["-s", "5000", "--ready", "listen"]).unwrap(),
            Readiness::Listen
        );
        assert_eq!(
            err.to_string(),
            "--ready listen needs a socket (-s) for COMMAND to listen on"
        );
    } else {
        assert!(
            err.to_string().starts_with("--ready listen needs Linux"),
            "{err}"
        );
    }
}

#[test]
fn supervise_flags_without_watch_are_usage_errors() {
    let err = Cli::try_parse_from(["systemfd", "--stop-first", "--", "true"])
        .unwrap()
        .into_config()
        .unwrap_err();
    assert_eq!(err.code, crate::error::EXIT_USAGE);
    assert!(err.to_string().contains("--stop-first"), "{err}");
}

#[test]
fn command_is_required() {
    let err = Cli::try_parse_from(["systemfd", "-s", "5000"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
}

fn adopt_of(args: &[&str]) -> Result<Adopt, Failure> {
    let argv = ["systemfd"].iter().chain(args).chain(&["--", "server"]);
    let config = Cli::try_parse_from(argv).unwrap().into_config()?;
    Ok(config.launch.adopt)
}

#[test]
fn adoption_is_the_default_of_supervise_mode_on_linux_with_a_socket() {
    let expected = if cfg!(target_os = "linux") {
        Adopt::Auto
    } else {
        Adopt::Off
    };
    assert_eq!(adopt_of(&["-s", "0", "-w", "."]).unwrap(), expected);
    assert_eq!(
        adopt_of(&["-s", "0", "-w", ".", "--no-adopt"]).unwrap(),
        Adopt::Off
    );
    // Nothing to give, nothing to adopt.
    assert_eq!(adopt_of(&["-w", "."]).unwrap(), Adopt::Off);
    // Exec mode asks for it.
    assert_eq!(adopt_of(&["-s", "0"]).unwrap(), Adopt::Off);
    assert_eq!(adopt_of(&["-s", "0", "--no-adopt"]).unwrap(), Adopt::Off);
}

#[test]
fn adopt_needs_linux_and_a_socket_and_refuses_no_adopt() {
    let err = Cli::try_parse_from(["systemfd", "--adopt", "--no-adopt", "-s", "0", "--", "x"])
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let err = adopt_of(&["--adopt"]).unwrap_err();
    assert_eq!(err.code, 2);
    assert!(err.to_string().contains("--adopt needs"), "{err}");
    let asked = adopt_of(&["--adopt", "-s", "0"]);
    if cfg!(target_os = "linux") {
        assert_eq!(asked.unwrap(), Adopt::Required);
        let supervised = adopt_of(&["--adopt", "-s", "0", "-w", "."]);
        assert_eq!(supervised.unwrap(), Adopt::Required);
    } else {
        let err = asked.unwrap_err();
        assert!(err.to_string().contains("needs Linux"), "{err}");
    }
}

#[test]
fn build_takes_a_command_line_in_either_mode() {
    let build = |args: &[&str]| {
        Cli::try_parse_from(args)
            .map_err(|err| err.to_string())
            .and_then(|cli| cli.into_config().map_err(|err| err.to_string()))
            .map(|config| config.launch.build)
    };
    assert_eq!(
        build(&["systemfd", "--build", "cargo build", "--", "app"]).unwrap(),
        Some("cargo build".into())
    );
    assert!(build(&["systemfd", "-w", ".", "--build=make", "--", "app"]).is_ok());
    let err = build(&["systemfd", "--build", " ", "--", "app"]).unwrap_err();
    assert!(err.contains("the build command line is empty"), "{err}");
}

#[test]
fn no_error_page_is_a_supervise_mode_flag() {
    let err = Cli::try_parse_from(["systemfd", "--no-error-page", "--", "app"])
        .unwrap()
        .into_config()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "--no-error-page applies only in supervise mode: add --watch PATH"
    );
    let config = Cli::try_parse_from(["systemfd", "-w", ".", "--no-error-page", "--", "app"])
        .unwrap()
        .into_config()
        .unwrap();
    let Mode::Supervise(supervise) = config.mode else {
        panic!("-w selects supervise mode");
    };
    assert!(!supervise.error_page);
}

/// The config of `args` (between `systemfd` and `-- true`), or its failure.
fn config_of(args: &[&str]) -> Result<Config, Failure> {
    let mut all = vec!["systemfd"];
    all.extend_from_slice(args);
    all.extend(["--", "true"]);
    Cli::try_parse_from(all).unwrap().into_config()
}

#[test]
fn on_demand_in_both_modes_needs_a_socket() {
    assert!(
        config_of(&["-s", "0", "--on-demand"])
            .unwrap()
            .launch
            .on_demand
    );
    let supervised = config_of(&["-s", "0", "-w", ".", "--on-demand"]).unwrap();
    assert!(supervised.launch.on_demand);
    assert!(!config_of(&["-s", "0"]).unwrap().launch.on_demand);
    let err = config_of(&["--on-demand"]).unwrap_err();
    assert_eq!(err.code, crate::error::EXIT_USAGE);
    assert_eq!(
        err.to_string(),
        "--on-demand needs a socket (-s): COMMAND starts at the first connection to one"
    );
}

#[test]
fn idle_stop_is_checked() {
    let idle = |args: &[&str]| -> Result<Option<Duration>, Failure> {
        match config_of(args)?.mode {
            Mode::Supervise(supervise) => Ok(supervise.idle_stop),
            Mode::Exec => panic!("--idle-stop is a supervise-mode flag"),
        }
    };
    let err = config_of(&["-s", "0", "--idle-stop", "5"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--idle-stop applies only in supervise mode: add --watch PATH"
    );
    for (value, message) in [
        ("0", "the idle time must be more than 0, such as 30s or 5m"),
        ("soon", "not a duration"),
    ] {
        let err = Cli::try_parse_from(["systemfd", "--idle-stop", value, "--", "true"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--idle-stop"), "{err}");
        assert!(err.contains(message), "{err}");
    }
    let dgram = idle(&["-w", ".", "-s", "udp::0", "--idle-stop", "5"]).unwrap_err();
    if cfg!(target_os = "linux") {
        assert_eq!(
            idle(&["-w", ".", "-s", "0", "--idle-stop", "5"]).unwrap(),
            Some(Duration::from_secs(5)),
            "a plain number is seconds"
        );
        assert_eq!(
            idle(&[
                "-w",
                ".",
                "-s",
                "udp::0",
                "-s",
                "0",
                "--idle-stop",
                "1500ms"
            ])
            .unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            dgram.to_string(),
            "--idle-stop needs a stream socket (tcp::, http::, https::, unix::, unix-seqpacket::): a datagram socket has no connections to count"
        );
    } else {
        assert_eq!(
            dgram.to_string(),
            "--idle-stop needs Linux: systemfd counts connections in /proc/net, and cannot see them on this system"
        );
    }
    assert_eq!(dgram.code, crate::error::EXIT_USAGE);
}
