use std::time::{Duration, UNIX_EPOCH};

use super::super::ansi::{self, Target};
use super::super::request::WAIT_PATH;
use super::*;

fn html_of(text: &str) -> String {
    let mut out = String::new();
    ansi::convert(text, 0, Target::Html, &mut out);
    out
}

fn outage(output: Option<&[u8]>) -> Outage {
    Outage {
        cause: "pid 4242 exited with status 42".to_owned(),
        at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        change: Some("src/main.rs (and 2 more)".to_owned()),
        command: "cargo run -- --name '<b>'".to_owned(),
        output: output.map(<[u8]>::to_vec),
        script: None,
    }
}

#[test]
fn html_is_escaped() {
    assert_eq!(
        html_of("<script>alert(\"x\" & 'y')</script>"),
        "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
    );
}

#[test]
fn sgr_colours_and_bold_become_spans() {
    assert_eq!(
        html_of("\x1b[1m\x1b[31merror\x1b[0m: x"),
        "<span class=\"f1 b\">error</span>: x"
    );
    assert_eq!(
        html_of("\x1b[92mok\x1b[39m \x1b[1mbold\x1b[22m."),
        "<span class=\"f10\">ok</span> <span class=\"b\">bold</span>."
    );
    assert_eq!(html_of("\x1b[33mA\x1b[mB"), "<span class=\"f3\">A</span>B");
    // A style that does not change opens no new span.
    assert_eq!(
        html_of("\x1b[34ma\x1b[34mb"),
        "<span class=\"f4\">ab</span>"
    );
    // Spans stay open across lines and close at the end.
    assert_eq!(html_of("\x1b[35ma\nb"), "<span class=\"f5\">a\nb</span>");
}

#[test]
fn extended_colour_arguments_are_not_taken_for_attributes() {
    // 38;5;1 is colour 1 of 256, not bold; 38;2;31;1;1 is a true colour.
    assert_eq!(html_of("\x1b[38;5;1mx"), "x");
    assert_eq!(html_of("\x1b[38;2;31;1;1mx"), "x");
    assert_eq!(html_of("\x1b[48;5;31;1mx"), "<span class=\"b\">x</span>");
    assert_eq!(html_of("\x1b[38:5:1;32mx"), "<span class=\"f2\">x</span>");
}

#[test]
fn other_sequences_and_controls_are_stripped() {
    let text = "a\x1b[2K\x1b[1G\x1b]0;title\x07b\x1b]8;;http://x\x1b\\c\x1b[?25l\x08\x07\rd\te\x7f\u{9b}\n";
    assert_eq!(html_of(text), "abcd\te\n");
    assert_eq!(ansi::plain("\x1b[1;31merror\x1b[0m: <x>"), "error: <x>");
}

#[test]
fn invalid_utf8_is_shown_lossily() {
    let page = html(
        &outage(Some(b"caf\xc3\xa9 \xff\xfe ok \xe2\x82\n\x1b[31mred\n")),
        1,
    );
    assert!(
        page.contains("café \u{FFFD}\u{FFFD} ok \u{FFFD}\n<span class=\"f1\">red"),
        "{page}"
    );
}

#[test]
fn the_page_shows_the_facts_escaped() {
    let page = html(
        &outage(Some(
            b"\x1b[1m\x1b[31merror\x1b[0m: <script>alert(1)</script>\n",
        )),
        1,
    );
    assert!(page.contains("pid 4242 exited with status 42"));
    assert!(page.contains("2023-11-14T22:13:20Z"));
    assert!(page.contains("src/main.rs (and 2 more)"));
    assert!(page.contains("cargo run -- --name &#39;&lt;b&gt;&#39;"));
    assert!(page.contains("<span class=\"f1 b\">error</span>: &lt;script&gt;alert(1)"));
    assert!(!page.contains("<script>alert"));
    assert!(page.contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"));
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("src="));

    let plain = plain(&outage(Some(b"\x1b[31merror\x1b[0m: <script>\n")));
    assert!(plain.contains("Cause:    pid 4242 exited with status 42\n"));
    assert!(plain.contains("When:     2023-11-14T22:13:20Z\n"));
    assert!(plain.contains("error: <script>\n"));
    assert!(!plain.contains('\x1b'));
}

#[test]
fn the_script_waits_on_the_outage_it_shows() {
    let page = html(&outage(None), 1234);
    assert!(page.contains(&format!(
        "fetch('{WAIT_PATH}?page=1234', {{cache: 'no-store'}})"
    )));
    assert!(!page.contains("EPOCH"));
    assert!(!page.contains("Build output"));
    let first = Outage {
        change: None,
        ..outage(None)
    };
    assert!(html(&first, 1).contains("none: the first start"));
}

#[test]
fn facts_are_one_line_and_bounded() {
    let long = Outage {
        cause: format!("a\nb\x1b[31m{}", "é".repeat(10_000)),
        ..outage(None)
    };
    let page = plain(&long);
    let cause = page.lines().find(|l| l.starts_with("Cause:")).unwrap();
    assert!(cause.starts_with("Cause:    a b"));
    assert!(cause.ends_with('…'));
    assert!(cause.len() < MAX_FIELD + 20);
}

#[test]
fn long_output_shows_its_last_lines_keeping_their_colour() {
    let mut output = b"\x1b[32m".to_vec();
    for line in 0..1000 {
        output.extend_from_slice(format!("line {line}\n").as_bytes());
    }
    let page = html(&outage(Some(&output)), 1);
    assert!(page.contains(&format!("Its last {MAX_LINES} lines.")));
    let first_shown = 1000 - MAX_LINES;
    assert!(page.contains(&format!("<pre><span class=\"f2\">line {first_shown}\n")));
    assert!(!page.contains(&format!("line {}\n", first_shown - 1)));
    assert!(page.contains("line 999\n</span></pre>"));
}

#[test]
fn huge_output_is_cut_to_its_last_bytes() {
    let output = vec![b'x'; 10 * MAX_OUTPUT]
        .chunks(100)
        .flat_map(|c| c.iter().copied().chain([b'\n']))
        .collect::<Vec<u8>>();
    let page = html(&outage(Some(&output)), 1);
    assert!(page.len() < MAX_OUTPUT + 16 * 1024, "{}", page.len());
    // The worst case: a colour change before every character.
    for worst in [
        &b"\x1b[91m\"\x1b[97m\""[..],
        b"\x1b[1m'\x1b[m'",
        b"\x1b[91m\xff",
    ] {
        let text = String::from_utf8_lossy(worst).into_owned();
        let mut out = String::new();
        ansi::convert(&text.repeat(100), 0, Target::Html, &mut out);
        assert!(
            out.len() < 6 * 100 * worst.len(),
            "{worst:?}: {}",
            out.len()
        );
    }
}

#[test]
fn empty_output_says_so() {
    assert!(html(&outage(Some(b"")), 1).contains("It printed nothing."));
}

#[test]
fn times_are_utc_iso_8601() {
    let at = |secs| iso_time(UNIX_EPOCH + Duration::from_secs(secs));
    assert_eq!(at(0), "1970-01-01T00:00:00Z");
    assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    assert_eq!(
        iso_time(UNIX_EPOCH - Duration::from_secs(5)),
        "1970-01-01T00:00:00Z"
    );
}

#[test]
fn a_redrawn_progress_line_shows_as_the_terminal_left_it() {
    assert_eq!(
        overwritten("progress 10%\rprogress 50%\rdone\r\nnext\r\n"),
        "done\nnext\n"
    );
    assert_eq!(overwritten("plain\n"), "plain\n");
}

#[test]
fn the_livereload_script_is_loaded_when_given() {
    let mut with = outage(None);
    with.script = Some("http://127.0.0.1:35729/livereload.js".to_owned());
    let page = html(&with, 7);
    assert!(page.contains("<script src=\"http://127.0.0.1:35729/livereload.js\"></script>"));
    assert!(!html(&outage(None), 7).contains("livereload.js"));
}
