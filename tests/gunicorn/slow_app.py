"""A WSGI application that is slow to import, for the gunicorn handover
tests in tests/suite/recipes.rs: it says on stderr when its import starts,
then, while the file SLOW_APP_HOLD names exists, waits (a minute at most), as
an application with heavy imports would; SLOW_APP_SECONDS adds a fixed delay.
It answers with the pid that serves, so the test can tell old from new.
"""

import os
import sys
import time

print(f"slow_app: importing in pid {os.getpid()}", file=sys.stderr, flush=True)
time.sleep(float(os.environ.get("SLOW_APP_SECONDS", "0")))
_hold = os.environ.get("SLOW_APP_HOLD")
_give_up = time.monotonic() + 60
while _hold and os.path.exists(_hold) and time.monotonic() < _give_up:
    time.sleep(0.01)
print(f"slow_app: imported in pid {os.getpid()}", file=sys.stderr, flush=True)


def app(environ, start_response):
    body = f"Hello from gunicorn, pid {os.getpid()}!\n".encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]
