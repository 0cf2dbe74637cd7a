//! Exec mode's start-up cost: how much longer `systemfd -q -s 0 -s udp::0 --
//! /bin/true` takes than `/bin/true` alone. Prints figures; asserts nothing.
//!
//! ```text
//! $ cargo bench --bench exec_overhead
//! $ SYSTEMFD_COMPARE=/path/to/other/systemfd cargo bench --bench exec_overhead
//! $ cargo build --release --target x86_64-unknown-linux-musl
//! $ SYSTEMFD_MUSL=target/x86_64-unknown-linux-musl/release/systemfd \
//!     cargo bench --bench exec_overhead
//! ```
//!
//! `SYSTEMFD_MUSL` adds a static build of this version (musl links statically
//! by default, so the binary needs no dynamic loader and no relocation of
//! shared libraries at start-up); `SYSTEMFD_COMPARE` adds any other build,
//! such as systemfd 0.4.6 from crates.io.
//!
//! The runs are interleaved (plain, env, systemfd, other, plain, …) so that a
//! busy machine slows every variant alike; the overhead is the difference of
//! the medians. `/usr/bin/env /bin/true` shows the floor: what any extra exec
//! of a small program costs here. `ITERATIONS` overrides the number of runs
//! per variant.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks benchmarks to list themselves.
    }
    let iterations: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let truth = "/bin/true";
    let ours = env!("CARGO_BIN_EXE_systemfd");
    let mut variants: Vec<(String, Vec<String>)> = vec![
        (truth.into(), vec![]),
        // The floor: one more exec of a small C program, doing nothing else.
        ("/usr/bin/env".into(), vec![truth.into()]),
        (ours.into(), args()),
    ];
    for variable in ["SYSTEMFD_MUSL", "SYSTEMFD_COMPARE"] {
        if let Ok(other) = std::env::var(variable) {
            variants.push((other, args()));
        }
    }

    let mut samples = vec![Vec::with_capacity(iterations); variants.len()];
    for round in 0..iterations + 50 {
        for (i, (program, args)) in variants.iter().enumerate() {
            let elapsed = time_one(program, args);
            if round >= 50 {
                samples[i].push(elapsed); // the first rounds warm the caches
            }
        }
    }

    println!("exec-mode start-up, {iterations} interleaved runs each:");
    let base = median(&mut samples[0]);
    for ((program, args), times) in variants.iter().zip(&mut samples) {
        let med = median(times);
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        let label = if args.is_empty() {
            program.clone()
        } else {
            format!("{program} {}", args.join(" "))
        };
        println!("  {label}");
        println!(
            "    median {:>7.3} ms   mean {:>7.3} ms   overhead (median) {:>+7.3} ms",
            ms(med),
            ms(mean),
            ms(med) - ms(base)
        );
    }
}

fn args() -> Vec<String> {
    ["-q", "-s", "0", "-s", "udp::0", "--", "/bin/true"]
        .map(String::from)
        .to_vec()
}

fn time_one(program: &str, args: &[String]) -> Duration {
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let elapsed = start.elapsed();
    assert!(status.success(), "{program} failed: {status}");
    elapsed
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
