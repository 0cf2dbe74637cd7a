use super::*;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn directory_names_tell_their_run() {
    assert_eq!(owner_pid("systemfd-123-Ab9xYz"), Some(123));
    assert_eq!(owner_pid("systemfd-123-"), None);
    assert_eq!(owner_pid("systemfd-base"), None);
    assert_eq!(owner_pid("systemfd-12a-xyz"), None);
    assert_eq!(owner_pid("other-123-xyz"), None);
}

#[test]
fn only_stale_directories_of_ours_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let dead = gone.id();
    let stale = tmp.path().join(format!("systemfd-{dead}-aaaaaa"));
    std::fs::create_dir(&stale).unwrap();
    drop(UnixDatagram::bind(stale.join("notify-1")).unwrap());
    let foreign = tmp.path().join(format!("systemfd-{dead}-bbbbbb"));
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let live = tmp
        .path()
        .join(format!("systemfd-{}-cccccc", std::process::id()));
    std::fs::create_dir(&live).unwrap();
    let file = tmp.path().join(format!("systemfd-{dead}-dddddd"));
    std::fs::write(&file, "").unwrap();

    remove_stale(tmp.path());
    assert!(!stale.exists());
    assert!(foreign.join("notes.txt").exists());
    assert!(live.exists());
    assert!(file.exists());
}

#[test]
fn parses_newline_separated_assignments() {
    let message = Message::parse(b"READY=1\nSTATUS=Serving on :5000\nMAINPID=42\n");
    assert_eq!(
        message,
        Message {
            ready: true,
            stopping: false,
            status: Some("Serving on :5000".into()),
        }
    );
}

#[test]
fn only_ready_1_is_readiness() {
    assert!(Message::parse(b"READY=1").ready);
    for text in [
        &b"READY=0"[..],
        b"READY=",
        b"READY",
        b"ready=1",
        b"READY=1 ",
        b"",
        b"\n\n",
    ] {
        assert!(
            !Message::parse(text).ready,
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }
}

#[test]
fn ignores_junk_and_keeps_the_last_status() {
    let message = Message::parse(b"garbage\n=\nSTATUS=a=b\nSTOPPING=1\nSTATUS=two\xff");
    assert!(message.stopping && !message.ready);
    assert_eq!(message.status.as_deref(), Some("two\u{fffd}"));
}

#[test]
fn the_directory_is_private_and_removed() {
    let directory = Directory::create().unwrap();
    let path = directory.path().to_owned();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    drop(directory);
    assert!(!path.exists());
}

#[test]
fn datagrams_reach_the_listener_until_it_is_dropped() {
    let directory = Directory::create().unwrap();
    let (tx, rx) = mpsc::channel();
    let listener = directory.listen(7, move |m| tx.send(m).unwrap()).unwrap();
    assert!(listener.path().ends_with("notify-7"));
    let client = UnixDatagram::unbound().unwrap();
    client.send_to(b"READY=1", listener.path()).unwrap();
    let message = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(message.ready);

    let path = listener.path().to_owned();
    drop(listener);
    assert!(!path.exists());
    // The thread ended: its sender is gone.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
}
