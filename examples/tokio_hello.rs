//! An async HTTP server on tokio that takes its socket from systemfd through
//! `listenfd` and, like most servers, never sends `READY=1`:
//!
//! ```text
//! $ cargo run -- -s http::5000 -w examples -- cargo run --example tokio_hello
//! ```
//!
//! It answers `Hello from pid N!` on a fresh task per connection. On SIGTERM
//! (Ctrl-C elsewhere) it stops accepting, finishes the requests in hand and
//! exits, so a restart under load loses nothing: what it has not accepted
//! stays queued on the shared socket for the next server. Supervise mode's
//! tests and the restart benchmark use it as the server that systemfd must
//! see listening by itself.

use std::io;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build();
    let served = runtime.and_then(|runtime| runtime.block_on(serve()));
    if let Err(err) = served {
        eprintln!("tokio_hello: {err}");
        std::process::exit(1);
    }
}

async fn serve() -> io::Result<()> {
    let listener = listenfd::ListenFd::from_env()
        .take_tcp_listener(0)?
        .ok_or_else(|| io::Error::other("no socket passed (run it under systemfd -s)"))?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    eprintln!("tokio_hello: serving http://{}/", listener.local_addr()?);
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut requests = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                requests.spawn(async move {
                    if let Err(err) = respond(stream).await {
                        eprintln!("tokio_hello: {err}");
                    }
                });
            }
            // Reap finished requests as they go.
            Some(_) = requests.join_next(), if !requests.is_empty() => {}
            _ = &mut stop => break,
        }
    }
    drop(listener);
    while requests.join_next().await.is_some() {}
    Ok(())
}

async fn respond(stream: TcpStream) -> io::Result<()> {
    let mut stream = BufReader::new(stream);
    // Read the request head; the answer does not depend on it.
    let mut line = String::new();
    while stream.read_line(&mut line).await? > 2 {
        line.clear();
    }
    let body = format!("Hello from pid {}!\n", std::process::id());
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.get_mut().write_all(answer.as_bytes()).await?;
    stream.get_mut().shutdown().await
}

/// Resolves on SIGTERM (Unix) or Ctrl-C (elsewhere).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(err) => {
                eprintln!("tokio_hello: cannot handle SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
