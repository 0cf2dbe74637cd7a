use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;

use super::*;

#[test]
fn a_bound_file_is_ours_until_removed_or_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sock");
    let _first = UnixListener::bind(&path).unwrap();
    let file = SocketFile::bound(&path).unwrap();
    assert_eq!(file.state(), FileState::Ours);
    assert_eq!(file.warning(FileState::Ours), None);

    std::fs::remove_file(&path).unwrap();
    assert_eq!(file.state(), FileState::Removed);
    let removed = file.warning(FileState::Removed).unwrap();
    assert!(
        removed.starts_with(&format!("{} was removed", path.display())),
        "{removed}"
    );

    // Another socket at the same path: another inode.
    let _second = UnixListener::bind(&path).unwrap();
    assert_eq!(file.state(), FileState::Replaced);
    let replaced = file.warning(FileState::Replaced).unwrap();
    assert!(
        replaced.contains("is no longer systemfd's socket"),
        "{replaced}"
    );
    // Not ours: left where it is.
    file.remove();
    assert!(path.exists());
    assert!(file.set_mode(0o600).is_err());

    let again = SocketFile::bound(&path).unwrap();
    again.remove();
    assert!(!path.exists());
}

#[test]
fn a_file_that_is_no_socket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain");
    std::fs::write(&path, "").unwrap();
    assert!(SocketFile::bound(&path).is_err());
    assert!(SocketFile::bound(&dir.path().join("missing")).is_err());
}

#[test]
fn the_mode_is_set_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sock");
    let _listener = UnixListener::bind(&path).unwrap();
    let file = SocketFile::bound(&path).unwrap();
    for mode in [0o660, 0o600, 0o666, 0o700] {
        file.set_mode(mode).unwrap();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o7777, mode);
    }
}
