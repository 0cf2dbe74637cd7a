use super::*;

#[test]
fn stat_lines_are_read_from_the_last_parenthesis() {
    let line = "42 (a (b) c) S 7 42 42 34816 42 4194560 1 0 0 0";
    assert_eq!(
        parse_stat(42, line),
        Some(ProcessInfo {
            pid: 42,
            parent: 7,
            group: 42,
            zombie: false,
        })
    );
    let stat = "4242 (cargo run) S 4200 4242 4200 34816 4242 4194560 1 0 0 0";
    let info = parse_stat(4242, stat).unwrap();
    assert_eq!((info.parent, info.group, info.zombie), (4200, 4242, false));
    // A command name may hold ") " itself; the last ")" ends it.
    let odd = "77 (a) Z 1 (b)) Z 70 71 0 0";
    let info = parse_stat(77, odd).unwrap();
    assert_eq!((info.parent, info.group, info.zombie), (70, 71, true));
    assert_eq!(parse_stat(12, "12 (x) S"), None);
    assert_eq!(parse_stat(0, ""), None);
    assert_eq!(parse_stat(1, "1 (init"), None);
    let me = processes()
        .into_iter()
        .find(|p| p.pid == std::process::id())
        .expect("this process is listed");
    // SAFETY: getppid and getpgrp read no memory.
    let (parent, group) = unsafe { (libc::getppid(), libc::getpgrp()) };
    assert_eq!((me.parent, me.group), (parent as u32, group as u32));
}
