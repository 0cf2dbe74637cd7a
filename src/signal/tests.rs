use super::*;

#[test]
fn signals_print_by_name() {
    assert_eq!(Signal(libc::SIGTERM).to_string(), "SIGTERM");
    assert_eq!(Signal(libc::SIGHUP).to_string(), "SIGHUP");
    assert_eq!(Signal(40).to_string(), "signal 40");
}

#[test]
fn names_and_numbers_agree() {
    assert_eq!(Signal::from_name("TERM"), Some(Signal::TERM));
    assert_eq!(Signal::from_name("SIGTERM"), None);
    assert_eq!(Signal::KILL.name(), Some("KILL"));
}
