//! The status messages and their cleaned, bounded texts.

use super::*;

#[test]
fn building_and_ok_carry_the_state_alone() {
    let building = Report::new(&Status::Building);
    assert_eq!(
        building.full,
        r#"{"command":"systemfd-status","state":"building"}"#
    );
    assert_eq!(building.full, building.bare);
    assert!(!building.ok);
    let ok = Report::new(&Status::Ok);
    assert_eq!(ok.full, r#"{"command":"systemfd-status","state":"ok"}"#);
    assert!(ok.ok);
}

#[test]
fn failed_has_the_details_only_in_full() {
    let report = Report::new(&Status::Failed {
        cause: "the build failed:\n it exited with \x1b[1mstatus 101\x1b[0m ".to_owned(),
        output: "\x1b[31merror\x1b[0m[E0308]: mismatched types\r\n  --> src/main.rs:2:5\n\n"
            .to_owned(),
    });
    assert_eq!(
        report.full,
        r#"{"command":"systemfd-status","state":"failed","cause":"the build failed:  it exited with status 101","output":"error[E0308]: mismatched types\n  --> src/main.rs:2:5"}"#
    );
    assert_eq!(
        report.bare,
        r#"{"command":"systemfd-status","state":"failed"}"#
    );
    assert!(!report.ok);
}

#[test]
fn the_cause_is_cut() {
    let cause = "é".repeat(10_000);
    let cleaned = clean_cause(&cause);
    assert!(cleaned.len() <= MAX_CAUSE);
    assert!(cleaned.len() > MAX_CAUSE - 2);
}

#[test]
fn the_output_keeps_its_last_lines() {
    let output: String = (1..=1000).map(|n| format!("line {n}\n")).collect();
    let cleaned = clean_output(&output);
    assert_eq!(cleaned.lines().count(), MAX_LINES);
    assert!(cleaned.starts_with("line 801\n"), "{cleaned:?}");
    assert!(cleaned.ends_with("line 1000"));
}

#[test]
fn the_output_keeps_its_last_bytes_in_whole_lines() {
    let line = format!("{}\n", "x".repeat(999));
    let output = line.repeat(100);
    let cleaned = clean_output(&output);
    assert_eq!(cleaned.lines().count(), MAX_OUTPUT / 1000);
    assert!(cleaned.lines().all(|l| l.len() == 999));
    // One huge line: its end.
    let huge = format!("{}end", "ü".repeat(100_000));
    let cleaned = clean_output(&huge);
    assert!(cleaned.len() <= MAX_OUTPUT && cleaned.len() > MAX_OUTPUT - 4);
    assert!(cleaned.ends_with("üend"));
}

#[test]
fn control_characters_and_escapes_are_removed() {
    let output = "a\x07b\x1b]0;title\x07c\x1b[2Kd\u{9b}e\x7ff\tg\rh\n";
    assert_eq!(clean_output(output), "abcdef\tgh");
}
