//! Which changes restart the command, through the real binary on real
//! trees: a FUSE mount edited behind it (bindfs), `--poll`, `-e` and
//! `--filter`, the repository's `info/exclude` and git's global excludes,
//! what Python writes as it runs, and names that are not UTF-8.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{systemfd, temp_dir, Project, Running, TestCommand};

/// How long a test waits to be sure that something does not happen: past
/// the polling interval it uses and the debounce.
const QUIET: Duration = Duration::from_millis(1200);

/// systemfd in `dir`, supervising `command`, with `args` before `--`, and
/// a home of its own (no git configuration but what the test writes).
fn supervising(dir: &Path, home: &Path, args: &[&str], command: &[&str]) -> TestCommand {
    systemfd()
        .current_dir(dir)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_CONFIG_GLOBAL")
        .args(["--debounce", "50ms"])
        .args(args)
        .arg("--")
        .args(command)
}

/// Starts `command` under systemfd and waits for its first start.
fn start(cmd: TestCommand) -> Running {
    let mut run = cmd.spawn();
    run.wait_for_text("~> started pid ");
    run
}

/// Waits for the next restart; returns what its change line names.
fn next_change(run: &mut Running) -> String {
    let line = run.wait_for_text("~> change: ");
    run.wait_for_text("~> started pid ");
    line[line.find("~> change: ").unwrap() + "~> change: ".len()..].to_owned()
}

/// Waits [`QUIET`] and checks that no restart came in that time.
fn assert_no_change(run: &mut Running, after: &str) {
    let before = run.count("~> change: ");
    run.gather(QUIET);
    assert_eq!(
        run.count("~> change: "),
        before,
        "{after} restarted the command\n{}",
        run.report()
    );
}

/// A directory mounted with bindfs over another, unmounted when dropped.
struct Bindfs {
    backing: PathBuf,
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl Bindfs {
    fn new() -> Bindfs {
        let dir = temp_dir();
        let mount = dir.path().join("mount");
        std::fs::create_dir(&mount).unwrap();
        Bindfs::at(dir, mount)
    }

    /// A bindfs mount on `mount`, an empty directory, over a directory in
    /// `dir`.
    fn at(dir: tempfile::TempDir, mount: PathBuf) -> Bindfs {
        let backing = dir.path().join("backing");
        std::fs::create_dir(&backing).unwrap();
        TestCommand::new("bindfs")
            .arg(&backing)
            .arg(&mount)
            .success();
        Bindfs {
            backing,
            mount,
            _dir: dir,
        }
    }
}

impl Drop for Bindfs {
    fn drop(&mut self) {
        // A lazy unmount: systemfd may still hold the directory.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mount)
            .status();
    }
}

#[test]
#[cfg_attr(
    not(has_bindfs),
    ignore = "needs bindfs and /dev/fuse (Debian: apt install bindfs)"
)]
fn a_fuse_mount_edited_behind_it_is_polled_without_a_flag() {
    let fuse = Bindfs::new();
    let home = temp_dir();
    std::fs::write(fuse.backing.join("app.py"), "v1\n").unwrap();
    let mut run = start(supervising(
        &fuse.mount,
        home.path(),
        &["-w", "."],
        &["true"],
    ));
    assert!(
        run.saw("~> polling . every 500ms: fuse"),
        "the polling is said\n{}",
        run.report()
    );

    // Behind the mount: no event, only the polling sees it.
    std::fs::write(fuse.backing.join("app.py"), "v2\n").unwrap();
    assert_eq!(next_change(&mut run), "app.py");
    std::fs::create_dir(fuse.backing.join("pkg")).unwrap();
    std::fs::write(fuse.backing.join("pkg/mod.py"), "").unwrap();
    let change = next_change(&mut run);
    assert!(change.starts_with("pkg"), "{change}");

    // Through the mount, the event comes at once, and the polling, which
    // runs alongside, does not report it again.
    std::fs::write(fuse.mount.join("app.py"), "v3\n").unwrap();
    assert_eq!(next_change(&mut run), "app.py");
    assert_no_change(&mut run, "the poll after an edit through the mount");

    // What is ignored stays ignored behind the mount too.
    std::fs::write(fuse.backing.join(".gitignore"), "*.log\n").unwrap();
    assert_eq!(next_change(&mut run), ".gitignore");
    std::fs::write(fuse.backing.join("server.log"), "GET /\n").unwrap();
    assert_no_change(&mut run, "an ignored file behind the mount");
    run.signal(crate::harness::Signal::TERM);
    run.wait();
}

#[test]
#[cfg_attr(
    not(has_bindfs),
    ignore = "needs bindfs and /dev/fuse (Debian: apt install bindfs)"
)]
fn a_fuse_mount_made_after_the_start_is_polled_too() {
    let p = Project::new(&["shared"]);
    let home = temp_dir();
    let mut run = start(supervising(p.root(), home.path(), &["-w", "."], &["true"]));
    assert!(!run.saw("~> polling"), "{}", run.report());
    let fuse = Bindfs::at(temp_dir(), p.path("shared"));
    run.wait_for_text("~> polling shared every 500ms: fuse");
    std::fs::write(fuse.backing.join("notes.md"), "behind the mount").unwrap();
    assert_eq!(next_change(&mut run), "shared/notes.md");
    run.signal(crate::harness::Signal::TERM);
    run.wait();
    drop(fuse);
}

#[test]
#[cfg_attr(
    not(has_bindfs),
    ignore = "needs bindfs and /dev/fuse (Debian: apt install bindfs)"
)]
fn no_poll_keeps_native_watching_only() {
    let fuse = Bindfs::new();
    let home = temp_dir();
    let mut run = start(supervising(
        &fuse.mount,
        home.path(),
        &["-w", ".", "--no-poll"],
        &["true"],
    ));
    assert!(!run.saw("~> polling"), "{}", run.report());
    std::fs::write(fuse.backing.join("app.py"), "v2\n").unwrap();
    assert_no_change(&mut run, "an edit behind the mount under --no-poll");
    run.signal(crate::harness::Signal::TERM);
    run.wait();
}

/// Whether `pid` holds an inotify descriptor.
fn holds_inotify(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.as_os_str() == "anon_inode:inotify")
        })
}

#[test]
fn poll_alone_finds_changes_and_follows_the_ignore_rules() {
    let p = Project::new(&["src", "target/debug"]);
    let home = temp_dir();
    p.write(".gitignore", "target/\n*.log\n");
    p.write("src/main.rs", "fn main() {}\n");
    let mut run = start(supervising(
        p.root(),
        home.path(),
        &["-w", ".", "--poll", "100ms"],
        &["true"],
    ));
    assert!(
        !holds_inotify(run.pid()),
        "--poll polls instead of watching\n{}",
        run.report()
    );

    p.write("src/main.rs", "fn main() { println!(); }\n");
    assert_eq!(next_change(&mut run), "src/main.rs");
    p.write("target/debug/app", "binary");
    p.write("server.log", "GET /\n");
    assert_no_change(&mut run, "an ignored write under --poll");
    std::fs::remove_file(p.path("src/main.rs")).unwrap();
    assert_eq!(next_change(&mut run), "src/main.rs");
    run.signal(crate::harness::Signal::TERM);
    run.wait();
}

#[test]
fn exts_and_filters_choose_what_counts() {
    let p = Project::new(&["src", "templates", "docs"]);
    let home = temp_dir();
    let mut run = start(supervising(
        p.root(),
        home.path(),
        &["-w", ".", "-e", "rs,toml", "--filter", "templates/"],
        &["true"],
    ));
    p.write("docs/notes.md", "notes");
    p.write("output.json", "{}");
    assert_no_change(&mut run, "files that match no -e or --filter");
    p.write("src/lib.rs", "");
    assert_eq!(next_change(&mut run), "src/lib.rs");
    p.write("templates/index.html", "<p>");
    assert_eq!(next_change(&mut run), "templates/index.html");
    // A rename counts by its new name.
    p.write("draft.txt", "[package]");
    assert_no_change(&mut run, "a .txt file");
    std::fs::rename(p.path("draft.txt"), p.path("Cargo.toml")).unwrap();
    assert_eq!(next_change(&mut run), "Cargo.toml");
    // A directory that held matching files, moved out of the tree: what it
    // held is gone.
    p.write("pkg/deep/m.rs", "");
    assert_eq!(next_change(&mut run), "pkg/deep/m.rs");
    let outside = temp_dir();
    std::fs::rename(p.path("pkg"), outside.path().join("pkg")).unwrap();
    assert_eq!(next_change(&mut run), "pkg");
    run.signal(crate::harness::Signal::TERM);
    run.wait();

    // The same under --poll, for a directory removed.
    let mut run = start(supervising(
        p.root(),
        home.path(),
        &["-w", ".", "-e", "rs", "--poll", "100ms"],
        &["true"],
    ));
    p.write("gone/deep/m.rs", "");
    assert_eq!(next_change(&mut run), "gone/deep/m.rs");
    std::fs::remove_dir_all(p.path("gone")).unwrap();
    assert_eq!(next_change(&mut run), "gone");
    run.signal(crate::harness::Signal::TERM);
    run.wait();
}

#[test]
#[cfg_attr(not(has_git), ignore = "needs git (Debian: apt install git)")]
fn info_exclude_and_git_s_global_excludes_are_honoured() {
    let p = Project::new(&["src"]);
    let home = temp_dir();
    TestCommand::new("git")
        .args(["init", "-q"])
        .current_dir(p.root())
        .success();
    p.write(".git/info/exclude", "*.tmp\n");
    let config = home.path().join(".config/git");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("ignore"), "*.log\n").unwrap();

    let mut run = start(supervising(p.root(), home.path(), &["-w", "."], &["true"]));
    p.write("app.log", "GET /\n");
    run.wait_for_text("~> not restarting for app.log: ignored by");
    assert!(
        run.saw("git's global excludes (--no-global-ignore"),
        "{}",
        run.report()
    );
    p.write("scratch.tmp", "");
    run.wait_for_text("~> not restarting for scratch.tmp: ignored by");
    assert!(run.saw(".git/info/exclude"), "{}", run.report());
    assert_no_change(&mut run, "files git ignores");
    p.write("src/lib.rs", "");
    assert_eq!(next_change(&mut run), "src/lib.rs");
    run.signal(crate::harness::Signal::TERM);
    run.wait();

    // core.excludesFile, as git resolves it (`~/` expanded), replaces the
    // default file.
    std::fs::write(home.path().join("excludes"), "*.out\n").unwrap();
    std::fs::write(
        home.path().join(".gitconfig"),
        "[core]\n\texcludesFile = ~/excludes\n",
    )
    .unwrap();
    let mut run = start(supervising(p.root(), home.path(), &["-w", "."], &["true"]));
    p.write("result.out", "");
    run.wait_for_text("~> not restarting for result.out: ignored by");
    p.write("app.log", "GET /favicon.ico\n");
    assert_eq!(next_change(&mut run), "app.log");
    run.signal(crate::harness::Signal::TERM);
    run.wait();

    // --no-global-ignore leaves the global file out; info/exclude stays.
    let mut run = start(supervising(
        p.root(),
        home.path(),
        &["-w", ".", "--no-global-ignore"],
        &["true"],
    ));
    p.write("result.out", "again");
    assert_eq!(next_change(&mut run), "result.out");
    p.write("scratch.tmp", "again");
    assert_no_change(&mut run, "info/exclude under --no-global-ignore");
    run.signal(crate::harness::Signal::TERM);
    run.wait();
}

#[test]
fn a_python_app_restarts_once_per_edit_of_an_imported_module() {
    let p = Project::new(&[]);
    let home = temp_dir();
    p.write("helper.py", "GREETING = 'v1'\n");
    p.write(
        "app.py",
        "import time, helper\nprint('serving', helper.GREETING, flush=True)\ntime.sleep(600)\n",
    );
    let mut run = start(
        supervising(p.root(), home.path(), &["-w", "."], &["python3", "app.py"])
            // As Python runs by default: writing bytecode.
            .env_remove("PYTHONDONTWRITEBYTECODE"),
    );
    run.wait_for_text("serving v1");
    // Importing wrote __pycache__/helper.cpython-3X.pyc.
    assert!(p.path("__pycache__").is_dir());
    assert_no_change(&mut run, "the bytecode Python wrote");
    assert!(
        run.saw("~> not restarting for __pycache__"),
        "the first ignored bytecode is said\n{}",
        run.report()
    );

    p.write("helper.py", "GREETING = 'v2'\n");
    assert_eq!(next_change(&mut run), "helper.py");
    run.wait_for_text("serving v2");
    assert_no_change(&mut run, "the bytecode of the edited module");
    assert_eq!(run.count("~> change: "), 1, "{}", run.report());
    run.signal(crate::harness::Signal::TERM);
    run.wait();
}

#[test]
fn names_that_are_not_utf8_are_watched_ignored_and_shown() {
    let p = Project::new(&[]);
    let home = temp_dir();
    let odd = OsStr::from_bytes(b"caf\xe9");
    let dir = p.root().join(odd);
    std::fs::create_dir(&dir).unwrap();
    // An ignore file whose line is not UTF-8 either: it names that byte.
    std::fs::write(dir.join(".gitignore"), b"na\xefve.log\n").unwrap();
    let mut run = start(
        systemfd()
            .current_dir(p.root())
            .env("HOME", home.path())
            .args(["--debounce", "50ms", "-w"])
            .arg(&dir)
            .args(["--", "true"]),
    );
    std::fs::write(dir.join(OsStr::from_bytes(b"na\xefve.log")), "").unwrap();
    assert_no_change(&mut run, "a file its non-UTF-8 ignore line names");
    std::fs::write(dir.join(OsStr::from_bytes(b"na\xefve.rs")), "").unwrap();
    assert_eq!(next_change(&mut run), "caf\u{FFFD}/na\u{FFFD}ve.rs");
    run.signal(crate::harness::Signal::TERM);
    run.wait();
}
