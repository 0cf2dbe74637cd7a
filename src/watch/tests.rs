use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Weak};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::EventKind;

use super::debounce::{batch_limit, next_batch, Timing, Watching};
use super::events::changed_paths;
use super::notices::{self, Notices};
use super::placement::Placement;
use super::poll::{Poller, Target};
use super::rules::{Kind, Options, Rules, Source};
use crate::config::{Color, Output};
use crate::output::Printer;

/// A project tree in a temporary directory.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

fn rules(root: &Path, watched: &[&str], patterns: &[&str]) -> Rules {
    let root = fs::canonicalize(root).unwrap();
    let roots: Vec<PathBuf> = watched
        .iter()
        .map(|w| fs::canonicalize(root.join(w)).unwrap())
        .collect();
    let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    Rules::new(&roots, options(&patterns, &root)).unwrap()
}

/// The rules' options with `--ignore` `patterns` and defaults otherwise
/// (git's global excludes left out: they are the machine's).
fn options<'a>(patterns: &'a [String], base: &'a Path) -> Options<'a> {
    Options {
        ignores: patterns,
        exts: &[],
        filters: &[],
        base,
        exclude: Vec::new(),
        default_ignore: true,
        global_ignore: false,
    }
}

fn notices(base: PathBuf) -> Notices {
    let printer = Printer::new(Output {
        quiet: true,
        color: Color::Never,
    });
    Notices::new(printer, base)
}

/// Whether a change to `path`, under `root`, counts.
fn counts(rules: &mut Rules, root: &Path, path: &str) -> bool {
    let root = fs::canonicalize(root).unwrap();
    !rules.ignores(&root.join(path), Kind::Unknown)
}

fn modify(path: &Path) -> notify::Event {
    notify::Event::new(EventKind::Modify(ModifyKind::Any)).add_path(path.to_owned())
}

#[test]
fn gitignore_at_the_top_silences_the_build_directory() {
    let dir = tree(&[
        (".gitignore", "/target\n*.log\n"),
        ("src/main.rs", ""),
        ("target/debug/app", ""),
    ]);
    fs::create_dir(dir.path().join(".git")).unwrap();
    let mut r = rules(dir.path(), &["."], &[]);
    assert!(counts(&mut r, dir.path(), "src/main.rs"));
    assert!(!counts(&mut r, dir.path(), "target/debug/app"));
    assert!(!counts(&mut r, dir.path(), "target/new-file-not-yet-there"));
    assert!(!counts(&mut r, dir.path(), "src/debug.log"));
    assert!(!counts(&mut r, dir.path(), "target"));
}

#[test]
fn the_repository_top_applies_to_a_watched_subdirectory() {
    let dir = tree(&[(".gitignore", "*.tmp\n"), ("src/a.rs", "")]);
    fs::create_dir(dir.path().join(".git")).unwrap();
    let mut r = rules(dir.path(), &["src"], &[]);
    assert!(counts(&mut r, dir.path(), "src/a.rs"));
    assert!(!counts(&mut r, dir.path(), "src/x.tmp"));
}

#[test]
fn outside_a_repository_parents_do_not_apply() {
    let dir = tree(&[(".gitignore", "*.tmp\n"), ("src/a.rs", "")]);
    let mut r = rules(dir.path(), &["src"], &[]);
    assert!(counts(&mut r, dir.path(), "src/x.tmp"));
}

#[test]
fn deeper_files_and_dot_ignore_take_precedence() {
    let dir = tree(&[
        (".gitignore", "*.gen\n"),
        ("keep/.gitignore", "!*.gen\n"),
        ("sub/.gitignore", "!local.dat\n"),
        ("sub/.ignore", "*.dat\n"),
    ]);
    let mut r = rules(dir.path(), &["."], &[]);
    assert!(!counts(&mut r, dir.path(), "a.gen"));
    assert!(counts(&mut r, dir.path(), "keep/b.gen"));
    assert!(!counts(&mut r, dir.path(), "sub/local.dat"));
    assert!(!counts(&mut r, dir.path(), "sub/other.dat"));
}

#[test]
fn nothing_inside_an_ignored_directory_counts() {
    let dir = tree(&[(".gitignore", "build/\n"), ("build/.gitignore", "!*\n")]);
    let mut r = rules(dir.path(), &["."], &[]);
    assert!(!counts(&mut r, dir.path(), "build/out/x.o"));
}

#[test]
fn a_removed_directory_is_judged_as_the_directory_it_was() {
    let dir = tree(&[(".gitignore", "target/\n")]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let mut r = rules(dir.path(), &["."], &[]);
    // Gone from disk: only the event says it was a directory.
    assert!(r.ignores(&root.join("target"), Kind::Dir));
    assert!(!r.ignores(&root.join("target"), Kind::File));
    assert!(!r.ignores(&root.join("target"), Kind::Unknown));
}

#[test]
fn ignore_flags_are_gitignore_patterns_relative_to_the_current_directory() {
    let dir = tree(&[(".gitignore", "*.log\n")]);
    let mut r = rules(dir.path(), &["."], &["tmp*", "/docs/", "!keep.log"]);
    assert!(!counts(&mut r, dir.path(), "tmpfile"));
    assert!(!counts(&mut r, dir.path(), "src/tmp/x.rs"));
    assert!(!counts(&mut r, dir.path(), "docs/index.md"));
    assert!(counts(&mut r, dir.path(), "src/docs/index.md"));
    assert!(!counts(&mut r, dir.path(), "a.log"));
    assert!(counts(&mut r, dir.path(), "keep.log"));
}

#[test]
fn an_invalid_ignore_flag_is_named() {
    let dir = tree(&[]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let err = Rules::new(
        std::slice::from_ref(&root),
        options(&["a{".to_owned()], &root),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("invalid --ignore pattern 'a{'"),
        "{err:#}"
    );
}

#[test]
fn built_in_rules_skip_version_control_and_swap_files() {
    let dir = tree(&[]);
    let mut r = rules(dir.path(), &["."], &[]);
    assert!(!counts(&mut r, dir.path(), ".git/index"));
    assert!(!counts(&mut r, dir.path(), "src/.main.rs.swp"));
    assert!(!counts(&mut r, dir.path(), "src/main.rs~"));
    assert!(!counts(&mut r, dir.path(), "src/.#main.rs"));
    assert!(counts(&mut r, dir.path(), "src/main.rs"));
}

#[test]
fn an_explicitly_watched_path_counts_even_if_ignored() {
    let dir = tree(&[
        (".gitignore", "target/\n"),
        ("target/doc/index.html", ""),
        ("notes.txt", ""),
    ]);
    let mut r = rules(dir.path(), &["target/doc", "notes.txt"], &[]);
    assert!(counts(&mut r, dir.path(), "target/doc/index.html"));
    assert!(counts(&mut r, dir.path(), "notes.txt"));
    // A watched file's neighbours do not count.
    assert!(!counts(&mut r, dir.path(), "other.txt"));
    assert!(!counts(&mut r, dir.path(), "target/debug/app"));
    // But a walk goes into the directory that holds the watched file.
    let root = fs::canonicalize(dir.path()).unwrap();
    assert!(r.wants_dir(&root));
}

#[test]
fn own_directories_never_count() {
    let dir = tree(&[("private/notify-1", "")]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let mut r = Rules::new(
        std::slice::from_ref(&root),
        Options {
            exclude: vec![root.join("private")],
            ..options(&[], &root)
        },
    )
    .unwrap();
    assert!(r.ignores(&root.join("private/notify-1"), Kind::Unknown));
    assert!(!r.ignores(&root.join("public"), Kind::Unknown));
}

#[test]
fn an_edited_ignore_file_is_read_again() {
    let dir = tree(&[(".gitignore", "")]);
    let mut r = rules(dir.path(), &["."], &[]);
    assert!(counts(&mut r, dir.path(), "out.bin"));
    fs::write(dir.path().join(".gitignore"), "*.bin\n").unwrap();
    let gitignore = fs::canonicalize(dir.path()).unwrap().join(".gitignore");
    assert_eq!(
        changed_paths(&modify(&gitignore), &mut r, &|_| false),
        [gitignore]
    );
    assert!(!counts(&mut r, dir.path(), "out.bin"));
}

#[test]
fn reads_and_opens_do_not_count() {
    let dir = tree(&[("a.rs", "")]);
    let mut r = rules(dir.path(), &["."], &[]);
    let path = fs::canonicalize(dir.path()).unwrap().join("a.rs");
    let open = notify::Event::new(EventKind::Access(AccessKind::Open(AccessMode::Any)))
        .add_path(path.clone());
    assert!(changed_paths(&open, &mut r, &|_| false).is_empty());
    assert_eq!(changed_paths(&modify(&path), &mut r, &|_| false), [path]);
}

#[test]
fn lost_events_count_as_a_change_to_the_first_watched_path() {
    let dir = tree(&[("a/x", ""), ("b/y", "")]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let mut r = rules(dir.path(), &["b", "a"], &[]);
    let rescan = notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
    assert_eq!(changed_paths(&rescan, &mut r, &|_| false), [root.join("b")]);
}

#[test]
fn batches_keep_the_order_drop_repeats_and_skip_ignored_paths() {
    let dir = tree(&[(".gitignore", "*.log\n")]);
    let root = fs::canonicalize(dir.path()).unwrap();
    // No backend: only the filtering and the batching are under test.
    let mut state = Watching::new(
        rules(dir.path(), &["."], &[]),
        Placement::new(vec![PathBuf::from(".")], notices(root.clone())),
        Weak::new(),
        None,
        notices(root.clone()),
    );
    let debounce = Duration::from_millis(50);
    let (tx, rx) = mpsc::channel();
    for name in ["b.rs", "x.log", "a.rs", "b.rs"] {
        tx.send(Ok(modify(&root.join(name)))).unwrap();
    }
    let batch = next_batch(&rx, &mut state, debounce).unwrap();
    assert_eq!(batch, [root.join("b.rs"), root.join("a.rs")]);

    // Only ignored changes: no batch until a counted one comes.
    tx.send(Ok(modify(&root.join("y.log")))).unwrap();
    tx.send(Ok(modify(&root.join("c.rs")))).unwrap();
    let batch = next_batch(&rx, &mut state, debounce).unwrap();
    assert_eq!(batch, [root.join("c.rs")]);

    drop(tx);
    assert_eq!(next_batch(&rx, &mut state, debounce), None);
}

#[test]
fn a_batch_ends_at_its_limit_however_busy_the_files_are() {
    assert_eq!(
        batch_limit(Duration::from_millis(50)),
        Duration::from_secs(1)
    );
    assert_eq!(
        batch_limit(Duration::from_millis(500)),
        Duration::from_secs(5)
    );
    assert_eq!(
        batch_limit(Duration::MAX),
        Duration::MAX,
        "saturates instead of overflowing"
    );
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn with_nothing_waiting_the_thread_blocks_or_polls() {
    let t0 = Instant::now();
    let timing = Timing::new(50 * MS);
    assert_eq!(timing.wait(t0, None), None);
    assert_eq!(timing.wait(t0, Some(100 * MS)), Some(100 * MS));
    assert!(!timing.is_due(t0 + 3600 * 1000 * MS));
}

#[test]
fn a_batch_is_due_a_debounce_period_after_its_latest_change() {
    let t0 = Instant::now();
    let mut timing = Timing::new(50 * MS);
    timing.changed(t0);
    assert_eq!(timing.wait(t0, None), Some(50 * MS));
    assert_eq!(timing.wait(t0 + 20 * MS, Some(10 * MS)), Some(10 * MS));
    timing.changed(t0 + 30 * MS);
    assert!(!timing.is_due(t0 + 79 * MS));
    assert_eq!(timing.wait(t0 + 40 * MS, None), Some(40 * MS));
    assert!(timing.is_due(t0 + 80 * MS));
    assert_eq!(timing.wait(t0 + 90 * MS, None), Some(Duration::ZERO));
}

#[test]
fn a_steady_stream_of_changes_is_cut_at_the_batch_limit() {
    let t0 = Instant::now();
    let mut timing = Timing::new(50 * MS);
    // A change every 40 ms never leaves 50 ms of quiet.
    let mut now = t0;
    while now < t0 + 980 * MS {
        timing.changed(now);
        assert!(!timing.is_due(now));
        now += 40 * MS;
    }
    timing.changed(now);
    assert_eq!(timing.wait(now, None), Some(t0 + 1000 * MS - now));
    assert!(timing.is_due(t0 + 1000 * MS));
}

#[test]
fn unsettled_watches_wait_for_quiet_but_do_not_delay_a_batch() {
    let t0 = Instant::now();
    let mut timing = Timing::new(50 * MS);
    timing.unsettled(t0);
    assert!(timing.is_due(t0 + 50 * MS));
    timing.unsettled(t0 + 40 * MS);
    assert!(timing.is_due(t0 + 50 * MS), "not pushed back");
    timing.settled();
    assert_eq!(timing, Timing::new(50 * MS));

    timing.changed(t0);
    timing.unsettled(t0 + 10 * MS);
    assert!(timing.is_due(t0 + 50 * MS));
}

#[test]
#[cfg(target_os = "linux")]
fn the_watch_limit_is_named_with_the_setting_that_raises_it() {
    let message = notices::limit_message(Some(8192), 8190);
    assert!(message.starts_with(
        "the system's limit of 8192 inotify watches per user is reached \
         (systemfd holds 8190, one per watched directory)"
    ));
    assert!(message.contains("sysctl fs.inotify.max_user_watches="));
    let err = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
    let explained = format!("{:#}", notices::explain(err, 0));
    assert!(
        explained.contains("fs.inotify.max_user_watches"),
        "{explained}"
    );
}

#[test]
fn a_path_that_cannot_be_watched_is_named_with_the_reason() {
    let denied = std::io::Error::from_raw_os_error(13);
    let expected = format!("cannot watch src: {denied}");
    let err = notify::Error::io(denied);
    let message = format!("{:#}", notices::cannot_watch(Path::new("src"), err, 0));
    assert_eq!(message, expected);
}

#[test]
fn other_errors_keep_their_reason_without_notify_s_path_list() {
    let denied = std::io::Error::from_raw_os_error(13);
    let expected = denied.to_string();
    let err = notify::Error::io(denied).add_path(PathBuf::from("/x"));
    assert_eq!(notices::reason(&err), expected);
}

#[test]
fn built_in_rules_leave_out_what_python_and_servers_write() {
    let dir = tree(&[]);
    let mut r = rules(dir.path(), &["."], &[]);
    assert!(!counts(
        &mut r,
        dir.path(),
        "__pycache__/helper.cpython-313.pyc"
    ));
    assert!(!counts(
        &mut r,
        dir.path(),
        "app/__pycache__/m.cpython-313.pyc.140234"
    ));
    assert!(!counts(&mut r, dir.path(), "legacy.pyc"));
    assert!(!counts(&mut r, dir.path(), "db.sqlite3"));
    assert!(!counts(&mut r, dir.path(), "db.sqlite3-journal"));
    assert!(!counts(&mut r, dir.path(), "erl_crash.dump"));
    assert!(!counts(&mut r, dir.path(), "hs_err_pid4242.log"));
    assert!(counts(&mut r, dir.path(), "app/views.py"));
    // The first ignored change of a new entry is kept to be said, once.
    let root = fs::canonicalize(dir.path()).unwrap();
    assert!(!r.counts(&root.join("__pycache__/a.pyc"), Kind::File));
    assert!(!r.counts(&root.join("__pycache__/b.pyc"), Kind::File));
    assert!(!r.counts(&root.join(".git/index"), Kind::File));
    let said = r.take_first_acts();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(matches!(said[0].0, Source::BuiltIn("__pycache__/", _)));
}

#[test]
fn the_built_in_list_can_be_dropped_or_overridden() {
    let dir = tree(&[]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let none = Rules::new(
        std::slice::from_ref(&root),
        Options {
            default_ignore: false,
            ..options(&[], &root)
        },
    );
    let mut none = none.unwrap();
    assert!(counts(&mut none, dir.path(), "__pycache__/a.pyc"));
    let mut r = rules(dir.path(), &["."], &["!db.sqlite3"]);
    assert!(counts(&mut r, dir.path(), "db.sqlite3"));
    assert!(!counts(&mut r, dir.path(), "other.sqlite3"));
}

#[test]
fn exts_and_filters_pass_what_they_name_and_ignores_come_first() {
    let dir = tree(&[(".gitignore", "gen/\n"), ("src/a.rs", "")]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let exts = ["rs".to_owned()];
    let filters = ["templates/".to_owned(), "*.toml".to_owned()];
    let mut r = Rules::new(
        std::slice::from_ref(&root),
        Options {
            exts: &exts,
            filters: &filters,
            ..options(&[], &root)
        },
    )
    .unwrap();
    let passes = |r: &mut Rules, path: &str| r.counts(&root.join(path), Kind::File);
    assert!(passes(&mut r, "src/a.rs"));
    assert!(passes(&mut r, "Cargo.toml"));
    assert!(passes(&mut r, "crates/x/Cargo.toml"));
    assert!(passes(&mut r, "templates/index.html"));
    assert!(passes(&mut r, "templates/parts/nav.html"));
    assert!(!passes(&mut r, "README.md"));
    assert!(!passes(&mut r, "src/templates.html"));
    assert!(!passes(&mut r, "gen/b.rs"), "ignored first");
    // A directory has no extension: it passes only a pattern.
    assert!(!r.counts(&root.join("src"), Kind::Dir));
    assert!(r.counts(&root.join("templates"), Kind::Dir));
    // The -w path itself always passes.
    assert!(r.counts(&root, Kind::Dir));
}

#[test]
fn info_exclude_applies_after_the_ignore_files() {
    let dir = tree(&[
        (".git/info/exclude", "*.tmp\nkeep/\n"),
        ("keep/.gitignore", "!*.tmp\n"),
    ]);
    fs::create_dir(dir.path().join("src")).unwrap();
    let mut r = rules(dir.path(), &["src", "."], &[]);
    assert!(!counts(&mut r, dir.path(), "scratch.tmp"));
    assert!(!counts(&mut r, dir.path(), "src/x.tmp"));
    assert!(counts(&mut r, dir.path(), "src/x.rs"));
    let root = fs::canonicalize(dir.path()).unwrap();
    assert!(!r.counts(&root.join("a.tmp"), Kind::File));
    let said = r.take_first_acts();
    assert!(
        matches!(&said[..], [(Source::InfoExclude(file), _)] if file.ends_with(".git/info/exclude")),
        "{said:?}"
    );
}

#[cfg(unix)]
#[test]
fn ignore_lines_that_are_not_utf8_match_the_same_bytes_only() {
    use super::rules::glob_text;
    use std::os::unix::ffi::OsStrExt as _;
    let dir = tree(&[]);
    fs::write(dir.path().join(".gitignore"), b"caf\xe9-*.log\n\xff\n").unwrap();
    let mut r = rules(dir.path(), &["."], &[]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let name = |bytes: &[u8]| root.join(std::ffi::OsStr::from_bytes(bytes));
    assert!(r.ignores(&name(b"caf\xe9-1.log"), Kind::File));
    assert!(!r.ignores(&name(b"caf\xe8-1.log"), Kind::File));
    assert!(!r.ignores(&name("café-1.log".as_bytes()), Kind::File));
    assert!(r.ignores(&name(b"\xff"), Kind::File));
    assert!(!r.ignores(&name(b"\xfe"), Kind::File));
    assert_eq!(glob_text(b"plain"), "plain");
    assert_ne!(glob_text(b"\xe9"), glob_text(b"\xe8"));
}

/// A poller on `root` (canonical) polling it all.
fn poller(root: &Path, rules: &mut Rules) -> Poller {
    let target = Target {
        root: 0,
        path: root.to_owned(),
    };
    Poller::new(vec![target], Duration::from_millis(500), rules)
}

/// What a scan reports: kind and path, relative to `root`.
fn scan(poller: &mut Poller, rules: &mut Rules, root: &Path) -> Vec<(String, String)> {
    poller
        .scan(rules)
        .events
        .iter()
        .map(|event| {
            let kind = match event.kind {
                EventKind::Create(_) => "create",
                EventKind::Remove(_) => "remove",
                EventKind::Modify(_) => "modify",
                _ => "other",
            };
            let path = event.paths[0].strip_prefix(root).unwrap();
            (kind.to_owned(), path.display().to_string())
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, p)| (k.to_string(), p.to_string()))
        .collect()
}

#[test]
fn a_scan_reports_entries_made_changed_and_removed_and_skips_the_ignored() {
    let dir = tree(&[
        (".gitignore", "target/\n*.log\n"),
        ("src/a.rs", "a"),
        ("src/b.rs", "b"),
        ("target/debug/app", ""),
    ]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let mut r = rules(&root, &["."], &[]);
    let mut p = poller(&root, &mut r);
    assert_eq!(scan(&mut p, &mut r, &root), []);

    fs::write(root.join("src/a.rs"), "a, longer").unwrap();
    fs::remove_file(root.join("src/b.rs")).unwrap();
    fs::create_dir(root.join("src/net")).unwrap();
    fs::write(root.join("src/net/c.rs"), "").unwrap();
    fs::write(root.join("target/debug/app"), "rebuilt").unwrap();
    fs::write(root.join("server.log"), "GET /").unwrap();
    assert_eq!(
        scan(&mut p, &mut r, &root),
        pairs(&[
            ("modify", "src/a.rs"),
            ("remove", "src/b.rs"),
            ("create", "src/net"),
            ("create", "src/net/c.rs"),
        ])
    );
    assert_eq!(scan(&mut p, &mut r, &root), []);

    // Same size, new modification time: a change.
    let file = fs::File::options()
        .write(true)
        .open(root.join("src/a.rs"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        scan(&mut p, &mut r, &root),
        pairs(&[("modify", "src/a.rs")])
    );
    fs::remove_dir_all(root.join("src/net")).unwrap();
    assert_eq!(scan(&mut p, &mut r, &root), pairs(&[("remove", "src/net")]));
}

#[test]
fn what_events_reported_is_not_reported_again() {
    let dir = tree(&[("a.rs", "a")]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let mut r = rules(&root, &["."], &[]);
    let mut p = poller(&root, &mut r);
    fs::write(root.join("a.rs"), "a, edited").unwrap();
    fs::create_dir(root.join("new")).unwrap();
    fs::write(root.join("new/b.rs"), "").unwrap();
    fs::write(root.join("gone.rs"), "").unwrap();
    p.refresh(
        &[root.join("a.rs"), root.join("new"), root.join("gone.rs")],
        &mut r,
    );
    fs::remove_file(root.join("gone.rs")).unwrap();
    p.refresh(&[root.join("gone.rs")], &mut r);
    assert_eq!(scan(&mut p, &mut r, &root), []);
}

#[test]
fn an_edited_ignore_file_takes_in_what_it_now_covers_silently() {
    let dir = tree(&[(".gitignore", "*.log\n"), ("a.log", ""), ("b.rs", "")]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let mut r = rules(&root, &["."], &[]);
    let mut p = poller(&root, &mut r);
    fs::write(root.join(".gitignore"), "*.rs\n").unwrap();
    // As the event for the edit does: the rules read the file again.
    assert_eq!(
        changed_paths(&modify(&root.join(".gitignore")), &mut r, &|_| false),
        [root.join(".gitignore")]
    );
    p.refresh(&[root.join(".gitignore")], &mut r);
    assert_eq!(scan(&mut p, &mut r, &root), []);
    fs::write(root.join("a.log"), "now counted").unwrap();
    fs::write(root.join("b.rs"), "now ignored").unwrap();
    assert_eq!(scan(&mut p, &mut r, &root), pairs(&[("modify", "a.log")]));
}

#[test]
fn a_scan_that_takes_long_stretches_the_interval_once() {
    let dir = tree(&[("a.rs", "")]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let mut r = rules(&root, &["."], &[]);
    let target = Target {
        root: 0,
        path: root.clone(),
    };
    // An interval far shorter than any scan: 20 times the scan is longer.
    let mut p = Poller::new(vec![target], Duration::from_nanos(1), &mut r);
    let first = p.scan(&mut r);
    assert!(first.stretched.is_some());
    assert!(
        p.every() >= Duration::from_millis(100),
        "rounded up to 0.1 s"
    );
    assert!(p.due() > Instant::now());
    assert_eq!(p.scan(&mut r).stretched, None, "said once");
}

#[test]
fn overlapping_targets_are_walked_once_and_report_nothing_unchanged() {
    let dir = tree(&[("src/a.rs", ""), ("src/net/b.rs", ""), ("top.rs", "")]);
    let root = fs::canonicalize(dir.path()).unwrap();
    let mut r = rules(&root, &[".", "src", "."], &[]);
    let targets = [(0, root.clone()), (1, root.join("src")), (2, root.clone())]
        .into_iter()
        .map(|(root, path)| Target { root, path })
        .collect();
    let mut p = Poller::new(targets, Duration::from_millis(500), &mut r);
    assert_eq!(scan(&mut p, &mut r, &root), []);
    assert_eq!(scan(&mut p, &mut r, &root), []);
    fs::write(root.join("src/net/b.rs"), "edited").unwrap();
    assert_eq!(
        scan(&mut p, &mut r, &root),
        pairs(&[("modify", "src/net/b.rs")])
    );
}

#[test]
fn a_polled_directory_that_goes_and_comes_back_is_reported() {
    let dir = tree(&[("src/a.rs", "")]);
    let base = fs::canonicalize(dir.path()).unwrap();
    let mut r = rules(&base, &["src"], &[]);
    let src = base.join("src");
    let target = Target {
        root: 0,
        path: src.clone(),
    };
    let mut p = Poller::new(vec![target], Duration::from_millis(500), &mut r);
    fs::remove_dir_all(&src).unwrap();
    assert_eq!(scan(&mut p, &mut r, &base), pairs(&[("remove", "src")]));
    assert_eq!(scan(&mut p, &mut r, &base), []);
    fs::create_dir(&src).unwrap();
    fs::write(src.join("b.rs"), "").unwrap();
    assert_eq!(
        scan(&mut p, &mut r, &base),
        pairs(&[("create", "src"), ("create", "src/b.rs")])
    );
}
