//! The servers that bind their own port, as docs/recipes.md runs them:
//! each adds its command line, for a port, after `--`.

use std::path::{Path, PathBuf};

use super::tools::{express_recipe, go_nethttp_recipe, venv_program, NODE, PHP, PYTHON3};
use super::TestCommand;

/// `recipes/PATH` in the checkout.
pub fn recipe(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("recipes")
        .join(path)
}

/// `python3 -m http.server PORT --bind 127.0.0.1 --directory recipes/static`
pub fn http_server(command: TestCommand, port: u16) -> TestCommand {
    command
        .arg(PYTHON3.require())
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--directory")
        .arg(recipe("static"))
}

/// `flask --app recipes/flask/app run --no-reload --port PORT`
pub fn flask_run(command: TestCommand, port: u16) -> TestCommand {
    command
        .arg(venv_program("flask"))
        .arg("--app")
        .arg(recipe("flask/app"))
        .args(["run", "--no-reload", "--port", &port.to_string()])
}

/// `python3 recipes/django/manage.py runserver --noreload PORT`
pub fn django_runserver(command: TestCommand, port: u16) -> TestCommand {
    command
        .arg(venv_program("python3"))
        .arg(recipe("django/manage.py"))
        .args(["runserver", "--noreload", &port.to_string()])
}

/// `php -S localhost:PORT -t recipes/php`
pub fn php_server(command: TestCommand, port: u16) -> TestCommand {
    command
        .arg(PHP.require())
        .args(["-S", &format!("localhost:{port}"), "-t"])
        .arg(recipe("php"))
}

/// `node recipes/express/app.js`, with `PORT` set
pub fn express(command: TestCommand, port: u16) -> TestCommand {
    command
        .arg(NODE.require())
        .arg(express_recipe())
        .env("PORT", port.to_string())
}

/// The Go net/http recipe's binary (`http.ListenAndServe(":"+PORT, …)`),
/// with `PORT` set
pub fn go_net_http(command: TestCommand, port: u16) -> TestCommand {
    command
        .arg(go_nethttp_recipe())
        .env("PORT", port.to_string())
}
