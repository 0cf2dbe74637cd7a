//! Looks for the outside tools that some integration tests run (tests/main.rs)
//! and tells the tests as `has_*` cfgs. A test whose tool is missing is built
//! with `#[ignore = "needs …"]`, so that `cargo test` shows it as ignored,
//! with what to install, rather than counting it as passed. The library and
//! the binary use none of these cfgs.
//!
//! `SYSTEMFD_TESTS_REQUIRE_ALL=1` (set by .ci/run, which installs them all)
//! counts every tool as present: nothing that needs one is ignored, and a
//! missing tool fails its tests, which say what to install. What the machine
//! allows rather than what is installed (user namespaces, an IPv6 loopback)
//! is looked for either way.
//!
//! The script runs again when a directory on `PATH` changes (a tool was
//! installed) or one of the variables it reads does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!(
        "cargo::rustc-check-cfg=cfg(has_wine, has_systemd, has_ss, has_man, has_node, \
         has_express, has_go, has_go_systemd, has_php, has_recipes_venv, \
         has_browser, has_python_websocket, has_bindfs, has_git, has_user_namespaces, \
         has_ipv6_loopback, has_setpriv_nobody)"
    );
    for var in [
        "PATH",
        "SYSTEMFD_TESTS_REQUIRE_ALL",
        "SYSTEMFD_WINE",
        "SYSTEMFD_RECIPES_VENV",
        "SYSTEMFD_BROWSER_PYTHON",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for dir in &path {
        // Not the project or the build, nor a directory that holds them,
        // which change with every build.
        let near = |p: &Path| p.starts_with(dir) || dir.starts_with(p);
        if dir.is_absolute() && dir.is_dir() && !near(&manifest) && !near(&out) {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    let on_path = |name: &str| path.iter().any(|dir| dir.join(name).is_file());
    // `npm ci --prefix recipes/express` fills it: seen without a PATH change.
    let express = manifest.join("recipes/express");
    println!("cargo::rerun-if-changed={}", express.display());

    let require_all = std::env::var_os("SYSTEMFD_TESTS_REQUIRE_ALL").is_some_and(|v| v == "1");
    let wine = std::env::var_os("SYSTEMFD_WINE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/wine/wine64"));
    let venv = std::env::var_os("SYSTEMFD_RECIPES_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target/recipes-venv"));
    // Debian's python3-selenium is for Debian's own Python, which need not
    // be the first `python3` on PATH (pyenv's, a virtual environment's).
    let browser_python = std::env::var_os("SYSTEMFD_BROWSER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"));
    let installed = [
        (
            "has_wine",
            wine.is_file()
                && wine.with_file_name("wineserver").is_file()
                && on_path("x86_64-w64-mingw32-gcc")
                && has_rust_target("x86_64-pc-windows-gnu"),
        ),
        (
            "has_systemd",
            on_path("systemd-socket-activate") && on_path("systemd-notify"),
        ),
        ("has_ss", on_path("ss")),
        ("has_man", on_path("man")),
        ("has_node", on_path("node")),
        (
            "has_express",
            on_path("node") && express.join("node_modules/express/package.json").is_file(),
        ),
        ("has_go", on_path("go")),
        (
            "has_go_systemd",
            on_path("go")
                && Path::new("/usr/share/gocode/src/github.com/coreos/go-systemd").is_dir(),
        ),
        ("has_php", on_path("php")),
        (
            "has_recipes_venv",
            ["uvicorn", "gunicorn", "flask", "django-admin"]
                .iter()
                .all(|program| venv.join("bin").join(program).is_file()),
        ),
        (
            "has_browser",
            on_path("chromium")
                && on_path("chromedriver")
                && runs(&browser_python, &["-c", "import selenium"]),
        ),
        // Debian's python3-websocket (websocket-client), for the LiveReload
        // protocol's client (tests/harness/livereload.rs).
        (
            "has_python_websocket",
            runs(
                Path::new("/usr/bin/python3"),
                &["-c", "from websocket import create_connection, ABNF"],
            ),
        ),
        // A FUSE file system to poll (tests/suite/changes.rs): bindfs, and
        // fusermount to let a user mount it.
        (
            "has_bindfs",
            on_path("bindfs") && (on_path("fusermount") || on_path("fusermount3")),
        ),
        // A real repository, and git's own reading of its configuration.
        ("has_git", on_path("git")),
    ];
    for (cfg, found) in installed {
        if found || require_all {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    let allowed = [
        (
            "has_user_namespaces",
            runs(Path::new("unshare"), &["-Ur", "true"]),
        ),
        (
            "has_ipv6_loopback",
            std::net::TcpListener::bind("[::1]:0").is_ok(),
        ),
        // Running a program as `nobody` (root only), for the clients and
        // the systemfd of another user (tests/suite/sockets.rs).
        (
            "has_setpriv_nobody",
            runs(
                Path::new("setpriv"),
                &["--reuid=65534", "--regid=65534", "--clear-groups", "true"],
            ),
        ),
    ];
    for (cfg, found) in allowed {
        if found {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

/// Whether `program ARGS…` runs and succeeds.
fn runs(program: &Path, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether rustup (or whoever installed the toolchain) put the standard
/// library for `target` in the sysroot.
fn has_rust_target(target: &str) -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .args(["--print", "sysroot"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .is_some_and(|out| {
            let sysroot = String::from_utf8_lossy(&out.stdout);
            Path::new(sysroot.trim())
                .join("lib/rustlib")
                .join(target)
                .join("lib")
                .is_dir()
        })
}
