//! Links the Linux binary as a position-dependent executable.
//!
//! In exec mode systemfd lives for well under a millisecond before it execs
//! the command, and a position-independent executable spends a good part of
//! that applying thousands of relative relocations at start-up, each page of
//! them a page fault (measured here: 178 page faults and 1.55 ms for
//! `systemfd -s 0 -s udp::0 -- /bin/true` as PIE, 136 and 1.42 ms without).
//! Shared libraries keep their randomised addresses; systemfd's own image
//! is gone with the exec, and in supervise mode it reads only what its own
//! children send.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
