//! The error page as both hosts use it: the `http::` sockets it answers
//! on, what it adds to the supervisor's [`Outage`] (the time, COMMAND, the
//! build's output), and the line that says it answers.

use std::ffi::OsString;
use std::time::SystemTime;

use anyhow::Context as _;

use super::state::Outage;
use crate::error::Failure;
use crate::error_page::{self, ErrorPage, Limits, Site};
use crate::output::Printer;
use crate::socket::{LocalAddr, Sockets};
use crate::spec::{Address, SocketKind};

/// The error page of a run with `http::` sockets.
pub struct Page {
    server: ErrorPage,
    /// The URLs it answers on, for the line.
    urls: Vec<String>,
    /// COMMAND, and the build step, as the page shows them.
    command: String,
    /// Whether the page has answered yet: the first line says how to
    /// turn it off.
    said: bool,
    /// The LiveReload script the page includes (`--livereload`).
    script: Option<String>,
    printer: Printer,
}

impl Page {
    /// The page for the `http::` sockets among `sockets` (none: `None`),
    /// idle until told to answer. `command` and `build` are shown on it.
    ///
    /// # Errors
    /// A set-up [`Failure`] when a socket cannot be duplicated or the
    /// page's thread cannot start.
    pub fn new(
        sockets: &Sockets,
        command: &[OsString],
        build: Option<&OsString>,
        script: Option<String>,
        printer: Printer,
    ) -> Result<Option<Page>, Failure> {
        let mut sites = Vec::new();
        let mut urls = Vec::new();
        for open in &sockets.sockets {
            let (LocalAddr::Ip(local), SocketKind::Http) = (&open.local, open.spec.kind) else {
                continue;
            };
            let local = *local;
            let socket = open
                .socket
                .try_clone()
                .context("cannot duplicate a socket for the error page")
                .map_err(Failure::setup)?;
            let host = match &open.spec.addr {
                Address::Host { host, .. } => Some(host.clone()),
                _ => None,
            };
            urls.push(open.describe());
            sites.push(Site {
                socket,
                local,
                host,
            });
        }
        if sites.is_empty() {
            return Ok(None);
        }
        let server = ErrorPage::start(sites, Limits::default())
            .context("cannot start the error page")
            .map_err(Failure::setup)?;
        Ok(Some(Page {
            server,
            urls,
            command: crate::output::command_line(command, build),
            said: false,
            script,
            printer,
        }))
    }

    /// Answers with a page that tells `outage`, with the build's `output`
    /// when it failed; or (`None`) stops answering, returning once the page
    /// accepts nothing more.
    pub fn answer(&mut self, outage: Option<&Outage>, output: impl FnOnce() -> Vec<u8>) {
        let Some(outage) = outage else {
            if !self.server.stop() {
                self.printer.warn(
                    "the error page did not confirm that it stopped accepting: a connection may get the page rather than the new server",
                );
            }
            return;
        };
        self.server.answer(error_page::Outage {
            cause: outage.cause.clone(),
            at: SystemTime::now(),
            change: outage.trigger.clone(),
            command: self.command.clone(),
            output: outage.build_failed.then(output),
            script: self.script.clone(),
        });
        let hint = if std::mem::replace(&mut self.said, true) {
            ""
        } else {
            " (--no-error-page turns this off)"
        };
        self.printer.status(&format!(
            "answering {} with an error page until a server is ready{hint}",
            self.urls.join(" and ")
        ));
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_command_is_shown_as_typed() {
        let command: Vec<OsString> = ["python3", "-c", "print('hi')", ""]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            crate::output::command_line(&command, Some(&OsString::from("make all"))),
            r#"python3 -c 'print('\''hi'\'')' '' (built by: make all)"#
        );
    }
}
