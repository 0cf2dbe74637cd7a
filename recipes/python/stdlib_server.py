"""The Python standard library recipe (docs/recipes.md): http.server on the
socket systemfd passes, reporting readiness so that supervise mode (-w)
hands over without a gap.

    $ systemfd -s http::8000 -w recipes/python -- python3 recipes/python/stdlib_server.py

Nothing to install: socket, os and http.server are all it needs. Like
libsystemd's sd_listen_fds, it takes the sockets only when LISTEN_PID is its
own pid. Run on its own, it binds 127.0.0.1:8000.
"""

import http.server
import os
import signal
import socket
import sys
import threading

SD_LISTEN_FDS_START = 3


def passed_socket():
    """The first socket systemfd passed, or None."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    count = int(os.environ.get("LISTEN_FDS", "0"))
    # Children of this server must not take the socket for their own.
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_FDS_FIRST_FD"):
        os.environ.pop(name, None)
    if count < 1:
        return None
    # socket.socket(fileno=...) asks the kernel for the family and type.
    return socket.socket(fileno=SD_LISTEN_FDS_START)


def notify_ready():
    """sd_notify(READY=1): one datagram to the socket NOTIFY_SOCKET names."""
    target = os.environ.get("NOTIFY_SOCKET")
    if not target:
        return
    if target.startswith("@"):  # Linux's abstract namespace
        target = "\0" + target[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"READY=1", target)


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"Hello from Python, pid {os.getpid()}!\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    sock = passed_socket()
    if sock is None:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 8000), Hello)
    else:
        server = http.server.ThreadingHTTPServer(
            sock.getsockname()[:2], Hello, bind_and_activate=False
        )
        server.socket.close()
        server.socket = sock
    host, port = server.socket.getsockname()[:2]
    # A graceful stop: on SIGTERM (what systemfd sends once the replacement
    # is ready) stop accepting and finish the requests under way, so no
    # client sees its connection dropped. Connections not accepted yet stay
    # in the socket's queue for the replacement.
    server.daemon_threads = False
    signal.signal(
        signal.SIGTERM,
        # serve_forever runs on this thread: shutdown must come from another.
        lambda *_: threading.Thread(target=server.shutdown).start(),
    )
    print(f"python: serving http://{host}:{port}/", file=sys.stderr, flush=True)
    notify_ready()
    server.serve_forever()
    server.server_close()  # waits for the requests under way


if __name__ == "__main__":
    main()
