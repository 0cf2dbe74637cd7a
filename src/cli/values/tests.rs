use super::*;

#[cfg(unix)]
#[test]
fn signals_by_name_and_number() {
    for text in ["TERM", "SIGTERM", "sigterm", "term", "15"] {
        assert_eq!(signal(text), Ok(Signal(libc::SIGTERM)), "{text}");
    }
    assert_eq!(signal("INT"), Ok(Signal(libc::SIGINT)));
    assert_eq!(signal("SIGKILL"), Ok(Signal(libc::SIGKILL)));
    assert_eq!(signal("USR1"), Ok(Signal(libc::SIGUSR1)));
    assert_eq!(signal("31"), Ok(Signal(31)));
}

#[cfg(unix)]
#[test]
fn bad_signals_say_why() {
    assert_eq!(
        signal("TERMINATE").unwrap_err(),
        "unknown signal: expected a name such as TERM, SIGINT or HUP, or a number"
    );
    assert_eq!(signal("SIG").unwrap_err(), signal("TERMINATE").unwrap_err());
    assert_eq!(
        signal("0").unwrap_err(),
        format!("there is no signal 0 (signals are 1 to {})", Signal::MAX)
    );
    assert_eq!(
        signal("-15").unwrap_err(),
        format!("there is no signal -15 (signals are 1 to {})", Signal::MAX)
    );
    assert!(signal("65").is_err());
}

#[test]
fn durations_with_units() {
    assert_eq!(stop_timeout("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(stop_timeout("5s"), Ok(Duration::from_secs(5)));
    assert_eq!(stop_timeout("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(stop_timeout("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(stop_timeout("0"), Ok(Duration::ZERO));
}

#[test]
fn plain_numbers_take_the_flags_unit() {
    assert_eq!(stop_timeout("5"), Ok(Duration::from_secs(5)));
    assert_eq!(debounce("50"), Ok(Duration::from_millis(50)));
    assert_eq!(debounce("1s"), Ok(Duration::from_secs(1)));
}

#[test]
fn bad_durations_say_why() {
    let shape = "not a duration: expected a number with an optional unit, such as 500ms, 5s or 1m";
    for text in ["", "s", "abc", "-1s", ".5s", "5.s"] {
        assert_eq!(stop_timeout(text).unwrap_err(), shape, "{text:?}");
    }
    assert_eq!(
        stop_timeout("5h").unwrap_err(),
        "unknown unit 'h': use ms, s or m"
    );
    assert_eq!(
        stop_timeout("5 s").unwrap_err(),
        "unknown unit ' s': use ms, s or m"
    );
    assert_eq!(
        stop_timeout("1.2.3s").unwrap_err(),
        "not a duration: '1.2.3' is not a number"
    );
    assert_eq!(
        stop_timeout("1e400").unwrap_err(),
        "unknown unit 'e400': use ms, s or m"
    );
    assert_eq!(
        stop_timeout("99999999999999999999999m").unwrap_err(),
        "the duration is too long: at most 1440m (a day)"
    );
    for text in ["10000000000000000000", "1441m", "86400001ms"] {
        assert_eq!(
            stop_timeout(text).unwrap_err(),
            "the duration is too long: at most 1440m (a day)",
            "{text}"
        );
    }
    assert_eq!(
        debounce("9300000000000000000000").unwrap_err(),
        "the duration is too long: at most 1440m (a day)"
    );
    assert_eq!(stop_timeout("1440m"), Ok(MAX_DURATION));
}

#[test]
fn watch_paths_must_exist() {
    assert!(watch_path(".".into()).is_ok());
    assert_eq!(
        watch_path("/nonexistent/systemfd-test".into()).unwrap_err(),
        "no such file or directory"
    );
}

#[test]
fn ignore_patterns_are_checked() {
    assert_eq!(ignore_pattern("*.log"), Ok("*.log".into()));
    assert_eq!(ignore_pattern("target/"), Ok("target/".into()));
    assert_eq!(ignore_pattern("!keep.log"), Ok("!keep.log".into()));
    assert!(ignore_pattern("[abc")
        .unwrap_err()
        .starts_with("not a valid pattern: "));
    assert!(ignore_pattern("a{b")
        .unwrap_err()
        .starts_with("not a valid pattern: "));
    assert_eq!(
        ignore_pattern("").unwrap_err(),
        "an empty pattern (or a comment) ignores nothing"
    );
    assert!(ignore_pattern("# note").is_err());
}

#[test]
fn livereload_addresses() {
    assert_eq!(
        livereload_addr("35730").unwrap().to_string(),
        "127.0.0.1:35730"
    );
    assert_eq!(livereload_addr("[::1]:9").unwrap().to_string(), "[::1]:9");
    assert_eq!(
        livereload_addr("99999").unwrap_err(),
        "'99999' is not a valid port (0-65535)"
    );
    assert_eq!(
        livereload_addr("127.0.0.1:99999").unwrap_err(),
        "'99999' is not a valid port (0-65535)"
    );
    assert!(livereload_addr("foo")
        .unwrap_err()
        .starts_with("expected IP:PORT"));
}
