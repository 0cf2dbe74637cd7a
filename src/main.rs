// On Unix, systemfd provides the C `main` itself instead of Rust's: std's
// start-up (stack-guard probing through /proc/self/maps, an alternate signal
// stack, ignoring SIGPIPE) costs as much as exec mode's own work, and
// systemfd needs none of it. Arguments and environment still come from std.
#![cfg_attr(unix, no_main)]

use clap::Parser as _;

#[cfg(unix)]
#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    run()
}

#[cfg(not(unix))]
fn main() {
    std::process::exit(run())
}

/// Parses the command line, runs, and returns the exit status.
fn run() -> i32 {
    let cli = match systemfd::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    match systemfd::run(cli) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("systemfd: error: {failure}");
            i32::from(failure.code)
        }
    }
}

/// Help and version go to stdout with status 0; anything else is a usage
/// error, reported in systemfd's own format with status 2.
fn usage_error(err: clap::Error) -> i32 {
    if !err.use_stderr() {
        let _ = err.print();
        return 0;
    }
    let rendered = err.render().to_string();
    let message = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    eprint!("systemfd: error: {message}");
    i32::from(systemfd::error::EXIT_USAGE)
}
