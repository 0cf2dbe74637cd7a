"""The uvicorn recipe (docs/recipes.md): an ASGI application that uvicorn
serves on the socket systemfd passes at fd 3.

    $ systemfd -s http::8000 -- uvicorn --fd 3 --app-dir recipes/python asgi_app:app

uvicorn reads neither LISTEN_FDS nor LISTEN_PID: `--fd 3` names the socket.
"""

import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = f"Hello from uvicorn, pid {os.getpid()}!\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
