//! The programs from outside the crate that some tests run, and the recipes'
//! builds.
//!
//! build.rs looks for each tool when the tests are built, and a test whose
//! tool it did not find is `#[ignore]`d, saying what to install. A test that
//! runs asks for its tool first ([`Tool::require`]), so that a tool missing
//! all the same (`SYSTEMFD_TESTS_REQUIRE_ALL=1`, or removed since the build)
//! fails it with what to install, not with a stranger error later.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::TestCommand;

/// A program a test needs, the argument that shows it runs, and how to get it.
pub struct Tool {
    pub program: &'static str,
    check: &'static str,
    pub install: &'static str,
}

pub const PYTHON3: Tool = Tool {
    program: "python3",
    check: "--version",
    install: "install Python 3 (Debian: `apt-get install python3`)",
};

pub const SYSTEMD_SOCKET_ACTIVATE: Tool = Tool {
    program: "systemd-socket-activate",
    check: "--version",
    install: "install systemd-socket-activate (Debian: `apt-get install systemd`)",
};

pub const SYSTEMD_NOTIFY: Tool = Tool {
    program: "systemd-notify",
    check: "--version",
    install: "install systemd-notify (Debian: `apt-get install systemd`)",
};

pub const SS: Tool = Tool {
    program: "ss",
    check: "-V",
    install: "install ss (Debian: `apt-get install iproute2`)",
};

pub const MAN: Tool = Tool {
    program: "man",
    check: "--version",
    install: "install man (Debian: `apt-get install man-db`)",
};

pub const NODE: Tool = Tool {
    program: "node",
    check: "--version",
    install: "install Node.js (Debian: `apt-get install nodejs`)",
};

pub const PHP: Tool = Tool {
    program: "php",
    check: "--version",
    install: "install PHP's command line (Debian: `apt-get install php-cli`)",
};

pub const GO: Tool = Tool {
    program: "go",
    check: "version",
    install: "install Go and go-systemd \
              (Debian: `apt-get install golang-go golang-github-coreos-go-systemd-dev`)",
};

impl Tool {
    /// The program's name, once it has shown that it runs.
    pub fn require(&self) -> &'static str {
        require(self.program, self.check, self.install);
        self.program
    }
}

/// Fails with `install` unless `program ARG` runs and succeeds.
pub fn require(program: impl AsRef<Path>, arg: &str, install: &str) {
    let program = program.as_ref();
    let problem = match Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => return,
        Ok(status) => format!("ended with {status}"),
        Err(err) => err.to_string(),
    };
    panic!(
        "`{} {arg}` does not run ({problem}): {install}",
        program.display()
    );
}

/// A program of the virtual environment that holds the recipes' Python
/// packages (uvicorn, gunicorn, Flask, Django): `SYSTEMFD_RECIPES_VENV`, by
/// default `target/recipes-venv`.
pub fn venv_program(name: &str) -> PathBuf {
    let venv = std::env::var_os("SYSTEMFD_RECIPES_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/recipes-venv"));
    let program = venv.join("bin").join(name);
    require(
        &program,
        "--version",
        &format!(
            "the recipe tests need a virtual environment with uvicorn, gunicorn, Flask and \
             Django at {v}: `python3 -m venv {v} && {v}/bin/pip install uvicorn gunicorn flask \
             django` (Debian: `apt-get install python3-venv` first; .ci/run pins the versions), \
             or SYSTEMFD_RECIPES_VENV set to one",
            v = venv.display()
        ),
    );
    program
}

/// The Express recipe's script (`recipes/express/app.js`), once `node` runs
/// and Express is installed beside it.
pub fn express_recipe() -> PathBuf {
    NODE.require();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/express");
    assert!(
        dir.join("node_modules/express/package.json").is_file(),
        "Express is not installed in {}: `npm ci --prefix recipes/express`",
        dir.display()
    );
    dir.join("app.js")
}

/// `TARGET/recipes`, where the recipes are built: beside the crate's own
/// build, so building them never waits for cargo's lock on that, and outside
/// the crate, so neither `cargo run --example hello` nor the tests' own
/// build compiles tokio and axum.
pub fn recipes_build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // TARGET/debug/deps/main-HASH
    exe.ancestors()
        .nth(3)
        .expect("the test executable sits in TARGET/PROFILE/deps")
        .join("recipes")
}

/// The axum recipe's binary (`recipes/axum`, tokio through `listenfd`),
/// built once per profile.
pub fn axum_recipe(release: bool) -> PathBuf {
    static DEBUG: OnceLock<PathBuf> = OnceLock::new();
    static RELEASE: OnceLock<PathBuf> = OnceLock::new();
    let (built, profile) = if release {
        (&RELEASE, "release")
    } else {
        (&DEBUG, "debug")
    };
    built
        .get_or_init(|| {
            let target = recipes_build_dir();
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/axum/Cargo.toml");
            let mut build = TestCommand::new(&cargo)
                .args(["build", "--locked", "--manifest-path"])
                .arg(&manifest)
                .env("CARGO_TARGET_DIR", &target)
                .deadline(Duration::from_secs(900));
            if release {
                build = build.arg("--release");
            }
            build.success();
            target.join(profile).join("recipe-axum")
        })
        .clone()
}

/// The Go net/http recipe's binary (`recipes/go-nethttp`, a server that
/// binds its own port), built once.
pub fn go_nethttp_recipe() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let go = GO.require();
            let out = recipes_build_dir().join("hello-nethttp");
            TestCommand::new(go)
                .args(["build", "-o"])
                .arg(&out)
                .arg("recipes/go-nethttp/main.go")
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("GOCACHE", go_cache())
                .deadline(Duration::from_secs(900))
                .success();
            out
        })
        .clone()
}

/// The Go build cache of the recipes, beside their builds.
pub fn go_cache() -> PathBuf {
    recipes_build_dir().join("go-cache")
}
