use super::*;

#[test]
fn stops_are_explained() {
    assert_eq!(
        stopped_message(7, Signal(libc::SIGTTIN)),
        "pid 7 was stopped by SIGTTIN (it read from the terminal); it waits for SIGCONT"
    );
    assert_eq!(
        stopped_message(7, Signal(libc::SIGSTOP)),
        "pid 7 was stopped by SIGSTOP; it waits for SIGCONT"
    );
}
