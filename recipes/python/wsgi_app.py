"""The gunicorn recipe (docs/recipes.md): a WSGI application that gunicorn
serves on the socket systemfd passes.

    $ systemfd -s http::8000 -- gunicorn --chdir recipes/python wsgi_app:app
    $ systemfd -s http::8000 -w recipes/python -- gunicorn --preload --chdir recipes/python wsgi_app:app

gunicorn takes the sockets when LISTEN_PID is its own pid (systemfd execs
it, or starts it under -w), and sends READY=1 from its arbiter. Without
`--preload` it sends it before its workers import the application.
"""

import os


def app(environ, start_response):
    body = f"Hello from gunicorn, pid {os.getpid()}!\n".encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]
