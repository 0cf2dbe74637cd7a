//! `--generate`: the man page renders with man(1), and the shell completions
//! complete in a real shell.

use crate::harness::tools::MAN;
use crate::harness::{systemfd, temp_dir, TestCommand};

#[test]
#[cfg_attr(not(has_man), ignore = "needs man (Debian: man-db)")]
fn the_man_page_renders_with_man() {
    let man = MAN.require();
    let page = systemfd().args(["--generate", "man"]).success().stdout();
    assert!(
        page.starts_with(".ie") || page.contains(".TH systemfd"),
        "{page}"
    );
    let dir = temp_dir();
    let file = dir.path().join("systemfd.1");
    std::fs::write(&file, &page).unwrap();
    let rendered = TestCommand::new(man)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "")
        .arg("-l")
        .arg(&file)
        .success()
        .stdout();
    for needle in [
        "SYNOPSIS",
        "--socket",
        "--watch",
        "--signal",
        "SUPERVISE MODE",
    ] {
        assert!(
            rendered.contains(needle),
            "the page lacks {needle:?}:\n{rendered}"
        );
    }
}

/// What bash offers for the last word of `line` (the words after `systemfd`).
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let dir = temp_dir();
    let file = dir.path().join("systemfd.bash");
    std::fs::write(&file, script).unwrap();
    let all: Vec<String> = std::iter::once("systemfd")
        .chain(words.iter().copied())
        .map(|w| format!("'{w}'"))
        .collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n_systemfd systemfd \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display(),
        all.join(" "),
        words.len()
    );
    let out = TestCommand::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .success()
        .stdout();
    out.lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_flags() {
    let script = systemfd()
        .args(["--generate", "complete-bash"])
        .success()
        .stdout();
    assert_eq!(
        bash_completes(&script, &["--so"]),
        ["--socket", "--socket-mode"]
    );
    let colors = bash_completes(&script, &["--color", ""]);
    assert_eq!(colors, ["auto", "always", "never"]);
}

#[test]
fn every_shell_gets_a_script_and_bad_kinds_are_usage_errors() {
    for (kind, needle) in [
        ("complete-zsh", "#compdef systemfd"),
        ("complete-fish", "complete -c systemfd"),
        ("complete-powershell", "Register-ArgumentCompleter"),
    ] {
        let script = systemfd().args(["--generate", kind]).success().stdout();
        assert!(script.contains(needle), "{kind}: {script}");
    }
    systemfd()
        .args(["--generate", "man", "-s", "0"])
        .output()
        .assert_code(2)
        .assert_stdout_empty();
    systemfd()
        .args(["--generate", "nroff"])
        .output()
        .assert_code(2)
        .assert_stderr_contains("'nroff'");
}
