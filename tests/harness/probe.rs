//! The probe (examples/probe.rs) reports what it got as `KEY=VALUE` lines on
//! stdout; this is the one reading of that report.

use std::collections::BTreeMap;

/// One line of the probe's report split into key and value, or `None` for a
/// line that is not `KEY=VALUE` (`waiting`, `serving`).
pub fn probe_entry(line: &str) -> Option<(&str, &str)> {
    line.split_once('=')
}

/// The probe's report in `lines` (its stdout): every `KEY=VALUE` line, a
/// later value for a key replacing an earlier one.
pub fn probe_report<'a>(lines: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, String> {
    lines
        .into_iter()
        .filter_map(probe_entry)
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// The probe's `fds` value (`0f,1p,2p,3s,5fc`: number, then kind and flags)
/// as `(number, entry)` pairs.
pub fn probe_fds(fds: &str) -> Vec<(u32, &str)> {
    fds.split(',')
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let digits = entry.len() - entry.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let number = entry[..digits]
                .parse()
                .unwrap_or_else(|_| panic!("no descriptor number in {entry:?} of fds={fds}"));
            (number, entry)
        })
        .collect()
}
