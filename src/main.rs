use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = match systemfd::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    match systemfd::run(cli) {
        Ok(code) => exit(code),
        Err(failure) => {
            eprintln!("systemfd: error: {failure}");
            ExitCode::from(failure.code)
        }
    }
}

/// Help and version go to stdout with status 0; anything else is a usage
/// error, reported in systemfd's own format with status 2.
fn usage_error(err: clap::Error) -> ExitCode {
    if !err.use_stderr() {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let rendered = err.render().to_string();
    let message = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    eprint!("systemfd: error: {message}");
    ExitCode::from(systemfd::error::EXIT_USAGE)
}

/// The command's status; Windows statuses can exceed what `ExitCode` holds.
fn exit(code: i32) -> ExitCode {
    match u8::try_from(code) {
        Ok(code) => ExitCode::from(code),
        Err(_) => std::process::exit(code),
    }
}
