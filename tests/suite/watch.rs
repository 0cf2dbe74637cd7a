//! Where supervise mode places its watches, driven through the real binary
//! on real trees: ignored directories get none, the watches follow new
//! directories and edited ignore files, odd trees (unreadable directories, a
//! watched directory deleted and made again, the watch limit) do not stop
//! supervision, and editors' ways of saving restart the command.
//!
//! The watches are read from the kernel: `/proc/PID/fdinfo` of systemfd's
//! inotify descriptor has one `inotify wd:` line per watch, with the inode
//! it watches.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use crate::harness::{
    holds_within, systemfd, systemfd_path, temp_dir, Project, Ran, Running, TestCommand, DEADLINE,
};

/// A project tree with a `.git`, and a directory outside it for systemfd's
/// TMPDIR, so that the private directory made there takes no watch in the
/// project.
struct Tree {
    project: Project,
    tmp: tempfile::TempDir,
}

impl Deref for Tree {
    type Target = Project;

    fn deref(&self) -> &Project {
        &self.project
    }
}

impl Tree {
    fn new() -> Tree {
        Tree {
            project: Project::new(&[".git/objects"]),
            tmp: temp_dir(),
        }
    }

    /// `count` directories, nested two levels, under `relative`.
    fn many_dirs(&self, relative: &str, count: usize) {
        for i in 0..count {
            self.mkdir(&format!("{relative}/d{}/e{i}", i % 10));
        }
    }

    /// The inodes of the directories named, relative to the project.
    fn inodes(&self, relative: &[&str]) -> BTreeSet<u64> {
        relative
            .iter()
            .map(|r| std::fs::metadata(self.path(r)).unwrap().ino())
            .collect()
    }

    /// systemfd supervising `true` with `args` before `--`.
    fn command(&self, args: &[&str]) -> TestCommand {
        systemfd()
            .current_dir(self.root())
            .env("TMPDIR", self.tmp.path())
            .args(["--debounce", "50ms"])
            .args(args)
            .args(["--", "true"])
    }

    /// Starts systemfd and waits for its first command to have run.
    fn start(&self, args: &[&str]) -> Running {
        let mut run = self.command(args).spawn();
        run.wait_for_text("~> started pid ");
        run.wait_for_text("~> waiting for a change or SIGHUP");
        run
    }
}

/// The inodes systemfd's inotify watches are on.
fn watched(pid: u32) -> BTreeSet<u64> {
    let mut inodes = BTreeSet::new();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    for fd in fds.flatten() {
        let is_inotify = std::fs::read_link(fd.path())
            .is_ok_and(|target| target.as_os_str() == "anon_inode:inotify");
        if !is_inotify {
            continue;
        }
        let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
        let info = std::fs::read_to_string(info).unwrap_or_default();
        for line in info.lines().filter(|l| l.starts_with("inotify wd:")) {
            let hex = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix("ino:"))
                .expect("an ino: field");
            inodes.insert(u64::from_str_radix(hex, 16).unwrap());
        }
    }
    inodes
}

/// Waits until systemfd watches exactly `expected`.
fn wait_for_watches(run: &Running, expected: &BTreeSet<u64>) {
    if !holds_within(DEADLINE, || &watched(run.pid()) == expected) {
        panic!(
            "watched inodes {:?}, expected {expected:?}\n{}",
            watched(run.pid()),
            run.report()
        );
    }
}

/// Waits for the next restart and returns what its change line names.
fn next_change(run: &mut Running) -> String {
    let line = run.wait_for_text("~> change: ");
    run.wait_for_text("~> started pid ");
    run.wait_for_text("~> waiting for a change or SIGHUP");
    line[line.find("~> change: ").unwrap() + "~> change: ".len()..].to_owned()
}

#[test]
fn ignored_directories_get_no_watch() {
    let p = Tree::new();
    p.write(".gitignore", "target/\nnode_modules/\n");
    p.write("src/main.rs", "");
    p.write("src/net/mod.rs", "");
    p.write("src/net/tcp/mod.rs", "");
    p.many_dirs("target", 500);
    p.many_dirs("node_modules", 300);
    p.many_dirs("build", 50);
    p.many_dirs(".git/objects", 20);
    let run = p.start(&["-w", ".", "--ignore", "/build"]);

    let expected = p.inodes(&[".", "src", "src/net", "src/net/tcp"]);
    assert_eq!(watched(run.pid()), expected, "{}", run.report());
}

#[test]
fn a_watched_directory_is_watched_even_when_ignored() {
    let p = Tree::new();
    p.write(".gitignore", "target/\n");
    p.many_dirs("target/doc", 3);
    p.many_dirs("target/debug", 30);
    let run = p.start(&["-w", "target/doc"]);

    let expected = p.inodes(&[
        "target/doc",
        "target/doc/d0",
        "target/doc/d0/e0",
        "target/doc/d1",
        "target/doc/d1/e1",
        "target/doc/d2",
        "target/doc/d2/e2",
    ]);
    assert_eq!(watched(run.pid()), expected, "{}", run.report());
}

#[test]
fn new_directories_are_watched_and_removed_ones_dropped() {
    let p = Tree::new();
    p.write(".gitignore", "target/\n");
    p.write("src/main.rs", "");
    p.mkdir("target");
    let mut run = p.start(&["-w", "."]);
    wait_for_watches(&run, &p.inodes(&[".", "src"]));

    // Made at once with a file in it: the file predates the watch on its
    // directory, so only reading the directory finds it.
    p.write("src/a/b/new.rs", "");
    p.mkdir("target/debug/deps");
    wait_for_watches(&run, &p.inodes(&[".", "src", "src/a", "src/a/b"]));
    let change = next_change(&mut run);
    assert!(change.starts_with("src/a"), "{change}\n{}", run.report());

    p.write("src/a/b/new.rs", "fn main() {}");
    assert_eq!(next_change(&mut run), "src/a/b/new.rs");

    std::fs::remove_dir_all(p.path("src/a")).unwrap();
    wait_for_watches(&run, &p.inodes(&[".", "src"]));
    next_change(&mut run);

    // A directory moved in from elsewhere is watched, with what it holds.
    std::fs::create_dir_all(p.tmp.path().join("outside/inner")).unwrap();
    std::fs::rename(p.tmp.path().join("outside"), p.path("src/moved")).unwrap();
    wait_for_watches(
        &run,
        &p.inodes(&[".", "src", "src/moved", "src/moved/inner"]),
    );
    next_change(&mut run);
    p.write("src/moved/inner/x.rs", "");
    assert_eq!(next_change(&mut run), "src/moved/inner/x.rs");

    // Moved out of the tree: no longer watched, and no longer heard.
    std::fs::rename(p.path("src/moved"), p.tmp.path().join("gone")).unwrap();
    wait_for_watches(&run, &p.inodes(&[".", "src"]));
    next_change(&mut run);
}

#[test]
fn an_edited_gitignore_takes_effect_at_once() {
    let p = Tree::new();
    p.write(".gitignore", "gen/\n");
    p.write("src/main.rs", "");
    p.many_dirs("gen", 3);
    let mut run = p.start(&["-w", "."]);
    wait_for_watches(&run, &p.inodes(&[".", "src"]));

    p.write(".gitignore", "");
    assert_eq!(next_change(&mut run), ".gitignore");
    let all = p.inodes(&[
        ".",
        "src",
        "gen",
        "gen/d0",
        "gen/d0/e0",
        "gen/d1",
        "gen/d1/e1",
        "gen/d2",
        "gen/d2/e2",
    ]);
    wait_for_watches(&run, &all);
    p.write("gen/d1/e1/out.txt", "");
    assert_eq!(next_change(&mut run), "gen/d1/e1/out.txt");

    // Ignored again: the watches go, and writes there are not heard.
    p.write(".gitignore", "gen/\n");
    assert_eq!(next_change(&mut run), ".gitignore");
    wait_for_watches(&run, &p.inodes(&[".", "src"]));
    p.write("gen/d1/e1/out.txt", "again");
    p.write("src/main.rs", "fn main() {}");
    assert_eq!(next_change(&mut run), "src/main.rs");

    // A nested .ignore file counts as well.
    p.write("src/.ignore", "fixtures/\n");
    next_change(&mut run);
    p.many_dirs("src/fixtures", 20);
    p.write("src/lib.rs", "");
    assert_eq!(next_change(&mut run), "src/lib.rs");
    wait_for_watches(&run, &p.inodes(&[".", "src"]));
}

/// Runs systemfd as a user that cannot read 0700 directories owned by
/// another: as root (who reads everything) it drops to `nobody` with
/// setpriv; otherwise the test's own user cannot read mode 000.
fn as_reader_that_is_refused(p: &Tree, args: &[&str]) -> Running {
    let root = rustix::process::geteuid().is_root();
    for dir in [p.root(), p.tmp.path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let mut command = if root {
        TestCommand::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(systemfd_path())
    } else {
        systemfd()
    };
    command = command
        .current_dir(p.root())
        .env("TMPDIR", p.tmp.path())
        .args(args)
        .args(["--", "true"]);
    let mut run = command.spawn();
    run.wait_for_text("~> started pid ");
    run.wait_for_text("~> waiting for a change or SIGHUP");
    run
}

fn make_unreadable(path: &Path) {
    let mode = if rustix::process::geteuid().is_root() {
        0o700
    } else {
        0o000
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn unreadable_directories_are_skipped_ignored_ones_silently() {
    let p = Tree::new();
    p.write(".gitignore", "data/\n");
    p.write("src/main.rs", "");
    p.mkdir("data/postgres/base");
    p.mkdir("secrets/keys");
    for dir in [".", "src", "data", ".git", ".git/objects"] {
        std::fs::set_permissions(p.path(dir), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    make_unreadable(&p.path("data/postgres"));
    make_unreadable(&p.path("secrets"));
    let mut run = as_reader_that_is_refused(&p, &["--debounce", "50ms", "-w", "."]);

    assert_eq!(run.count("warning: not watching"), 1, "{}", run.report());
    assert_eq!(
        run.count("warning: not watching secrets: Permission denied (os error 13)"),
        1,
        "{}",
        run.report()
    );
    assert_eq!(run.count("postgres"), 0, "{}", run.report());
    wait_for_watches(&run, &p.inodes(&[".", "src"]));

    // Supervision goes on, and the skipped directory is not named again
    // when the watches are placed anew.
    p.write(".gitignore", "data/\n# edited\n");
    assert_eq!(next_change(&mut run), ".gitignore");
    p.write("src/main.rs", "fn main() {}");
    assert_eq!(next_change(&mut run), "src/main.rs");
    assert_eq!(run.count("warning: not watching"), 1, "{}", run.report());

    // Made readable, it is watched from then on.
    std::fs::set_permissions(p.path("secrets"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(next_change(&mut run), "secrets");
    wait_for_watches(&run, &p.inodes(&[".", "src", "secrets", "secrets/keys"]));
    p.write("secrets/keys/new.pem", "");
    assert_eq!(next_change(&mut run), "secrets/keys/new.pem");
}

#[test]
fn a_deleted_and_recreated_directory_is_watched_again() {
    let p = Tree::new();
    p.write("src/main.rs", "");
    p.mkdir("src/sub");
    let mut run = p.start(&["-w", "src"]);
    wait_for_watches(&run, &p.inodes(&["src", "src/sub"]));

    std::fs::remove_dir_all(p.path("src")).unwrap();
    run.wait_for_text("~> warning: src is gone; it is watched again when it comes back");
    assert!(watched(run.pid()).is_empty(), "{}", run.report());

    p.write("src/sub/main.rs", "");
    run.wait_for_text("~> src is back; watching it again");
    // Its coming back is a change of its own.
    next_change(&mut run);
    wait_for_watches(&run, &p.inodes(&["src", "src/sub"]));
    p.write("src/sub/main.rs", "fn main() {}");
    assert_eq!(next_change(&mut run), "src/sub/main.rs");
    assert_eq!(run.count("src is gone"), 1, "{}", run.report());

    // Replaced between two events (`git checkout`, `rm -rf && generate`).
    std::fs::rename(p.path("src"), p.tmp.path().join("old-src")).unwrap();
    p.write("src/main.rs", "");
    let new_src = p.inodes(&["src"]);
    assert!(
        holds_within(DEADLINE, || watched(run.pid()).is_superset(&new_src)),
        "{}",
        run.report()
    );
    wait_for_watches(&run, &new_src);
}

#[test]
fn the_current_directory_deleted_and_made_again_is_watched_again() {
    // systemfd's own current directory: held by systemfd, so the kernel
    // does not report its removal as such.
    let p = Tree::new();
    p.write("src/main.rs", "");
    let mut run = p.start(&["-w", "."]);
    wait_for_watches(&run, &p.inodes(&[".", "src"]));

    std::fs::remove_dir_all(p.root()).unwrap();
    run.wait_for_text("~> warning: . is gone; it is watched again when it comes back");
    assert!(watched(run.pid()).is_empty(), "{}", run.report());

    p.write("src/main.rs", "");
    run.wait_for_text("~> . is back; watching it again");
    wait_for_watches(&run, &p.inodes(&[".", "src"]));
    assert_eq!(run.count(". is gone"), 1, "{}", run.report());
}

#[test]
fn removing_an_ignored_directory_is_not_a_change() {
    let p = Tree::new();
    p.write(".gitignore", "target/\n");
    p.many_dirs("target", 30);
    let mut run = p.start(&["-w", "."]);
    std::fs::remove_dir_all(p.path("target")).unwrap();
    p.write("src/main.rs", "");
    let change = next_change(&mut run);
    assert!(change.starts_with("src"), "{change}\n{}", run.report());
}

#[test]
fn editor_saves_restart() {
    let p = Tree::new();
    p.write("src/main.rs", "v0");
    let mut run = p.start(&["-w", "src"]);

    // vim: probes whether it may write with a file named 4913, renames the
    // original to the backup, writes anew, deletes the backup.
    std::fs::write(p.path("src/4913"), "").unwrap();
    std::fs::remove_file(p.path("src/4913")).unwrap();
    std::fs::rename(p.path("src/main.rs"), p.path("src/main.rs~")).unwrap();
    std::fs::write(p.path("src/main.rs"), "v1").unwrap();
    std::fs::remove_file(p.path("src/main.rs~")).unwrap();
    let change = next_change(&mut run);
    assert!(change.starts_with("src/"), "{change}\n{}", run.report());

    // Write to a temporary file, rename over the original.
    std::fs::write(p.path("src/.main.rs.tmp"), "v2").unwrap();
    std::fs::rename(p.path("src/.main.rs.tmp"), p.path("src/main.rs")).unwrap();
    let change = next_change(&mut run);
    assert!(change.starts_with("src/"), "{change}\n{}", run.report());

    // A swap file alone is nothing.
    std::fs::write(p.path("src/.main.rs.swp"), "swap").unwrap();
    std::fs::write(p.path("src/lib.rs"), "").unwrap();
    assert_eq!(next_change(&mut run), "src/lib.rs");
}

#[test]
fn a_watched_file_replaced_by_its_editor_is_still_watched() {
    let p = Tree::new();
    p.write("config.toml", "a = 0");
    let mut run = p.start(&["-w", "config.toml"]);
    for n in 1..=3 {
        std::fs::rename(p.path("config.toml"), p.path("config.toml~")).unwrap();
        std::fs::write(p.path("config.toml"), format!("a = {n}")).unwrap();
        std::fs::remove_file(p.path("config.toml~")).unwrap();
        assert_eq!(next_change(&mut run), "config.toml");
    }
    // Its neighbours are not watched for.
    p.write("other.toml", "");
    p.write("config.toml", "a = 4");
    assert_eq!(next_change(&mut run), "config.toml");
}

/// Runs `args` in a user namespace of its own where at most `limit` inotify
/// watches may be held.
fn with_watch_limit(p: &Tree, limit: u32, args: &[&str]) -> Ran {
    let script = format!("echo {limit} > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"");
    TestCommand::new("unshare")
        .args(["-Ur", "sh", "-c", &script])
        .arg(systemfd_path())
        .current_dir(p.root())
        .env("TMPDIR", p.tmp.path())
        .args(args)
        .args(["--", "sh", "-c", "echo ran; kill -TERM $PPID"])
        .output()
}

#[test]
#[cfg_attr(
    not(has_user_namespaces),
    ignore = "needs user namespaces (unshare -Ur), to set a watch limit"
)]
fn the_watch_limit_is_named_with_the_setting_that_raises_it() {
    let p = Tree::new();
    p.write(".gitignore", "target/\n");
    p.many_dirs("src", 5);
    p.many_dirs("target", 200);

    // Ignored directories take none of the limit.
    let ran = with_watch_limit(&p, 20, &["-w", "."]);
    assert!(ran.stdout().contains("ran"), "{}", ran.report());

    let ran = with_watch_limit(&p, 5, &["-w", "."])
        .assert_code(1)
        .assert_stdout_empty();
    assert!(
        ran.stderr().contains(
            "cannot watch .: the system's limit of 5 inotify watches per user is reached"
        ) && ran.stderr().contains("fs.inotify.max_user_watches"),
        "{}",
        ran.report()
    );
}

#[test]
#[cfg_attr(
    not(has_user_namespaces),
    ignore = "needs user namespaces (unshare -Ur), to set a watch limit"
)]
fn reaching_the_watch_limit_later_is_reported_once_and_supervision_goes_on() {
    let p = Tree::new();
    p.mkdir("src");
    let script = "echo 10 > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"";
    let mut run = TestCommand::new("unshare")
        .args(["-Ur", "sh", "-c", script])
        .arg(systemfd_path())
        .current_dir(p.root())
        .env("TMPDIR", p.tmp.path())
        .args(["--debounce", "50ms", "-w", ".", "--", "true"])
        .spawn();
    run.wait_for_text("~> waiting for a change or SIGHUP");

    p.many_dirs("src/generated", 30);
    run.wait_for_text("fs.inotify.max_user_watches");
    next_change(&mut run);
    p.many_dirs("src/more", 30);
    next_change(&mut run);
    p.write("src/main.rs", "");
    assert_eq!(next_change(&mut run), "src/main.rs");
    assert_eq!(
        run.count("fs.inotify.max_user_watches"),
        1,
        "{}",
        run.report()
    );
}
