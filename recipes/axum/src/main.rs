//! axum on tokio, serving the socket systemfd passes (docs/recipes.md):
//!
//! ```text
//! $ systemfd -s http::3000 --nonblocking -- cargo run --manifest-path recipes/axum/Cargo.toml
//! ```
//!
//! `--nonblocking` matters: tokio's `TcpListener::from_std` takes the socket
//! as it is, and a blocking one panics in a debug build ("Registering a
//! blocking socket with the tokio runtime is unsupported") and, in a release
//! build on a current-thread runtime, blocks the runtime in `accept` so that
//! every request times out. Without systemfd it binds 127.0.0.1:3000 itself.

use axum::{routing::get, Router};

fn main() -> std::io::Result<()> {
    // One thread is plenty for a development server; it is also the
    // runtime on which a blocking socket hangs instead of limping along.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(serve())
}

async fn serve() -> std::io::Result<()> {
    let listener = match listenfd::ListenFd::from_env().take_tcp_listener(0)? {
        Some(listener) => tokio::net::TcpListener::from_std(listener)?,
        None => tokio::net::TcpListener::bind("127.0.0.1:3000").await?,
    };
    eprintln!("axum: serving http://{}/", listener.local_addr()?);
    let app = Router::new().route(
        "/",
        get(|| async { format!("Hello from axum, pid {}!\n", std::process::id()) }),
    );
    // On SIGTERM (systemfd stopping it after a restart) or Ctrl-C, finish
    // the requests in hand before exiting, so a restart loses none.
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_requested())
        .await
}

async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
