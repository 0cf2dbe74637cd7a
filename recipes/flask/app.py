"""The Flask recipe (docs/recipes.md): a Flask application served by
`flask run`, which binds its own port, run unchanged under systemfd.

    $ systemfd -s http::5000 -w recipes/flask -- flask --app recipes/flask/app run --no-reload --port 5000

Under -w on Linux systemfd adopts the development server's bind: it gets
systemfd's socket for 127.0.0.1:5000 in place of its own, and a restart hands
over without a refused connection. `--no-reload` leaves restarting to
systemfd (Flask's reloader would restart the server itself, in a process of
its own).
"""

import os

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return f"Hello from Flask, pid {os.getpid()}!\n", {"Content-Type": "text/plain"}
