// The Node recipe (docs/recipes.md): node's http server on the socket
// systemfd passes at fd 3.
//
//   $ systemfd -s http::8000 -- node recipes/node/server.js
//   $ systemfd -s http::8000 -w recipes/node -- node recipes/node/server.js
//
// `listen({ fd: 3 })` takes the descriptor as it is. Node does not read
// LISTEN_PID, so it works under `--no-pid` too; without LISTEN_FDS (run on
// its own) the server binds 127.0.0.1:8000 itself.
//
// Node cannot send a datagram on a Unix socket by itself, so readiness goes
// through `systemd-notify --ready` (Debian's systemd package): systemfd takes
// READY=1 from any process the server starts.
"use strict";

const { execFile } = require("node:child_process");
const http = require("node:http");

const server = http.createServer((req, res) => {
  const body = `Hello from Node, pid ${process.pid}!\n`;
  res.writeHead(200, {
    "Content-Type": "text/plain",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
});

const passed = Number(process.env.LISTEN_FDS || 0) > 0;
// Children of this server must not take the socket for their own.
delete process.env.LISTEN_FDS;
delete process.env.LISTEN_PID;
delete process.env.LISTEN_FDNAMES;

server.listen(passed ? { fd: 3 } : { host: "127.0.0.1", port: 8000 }, () => {
  const addr = server.address();
  console.error(`node: serving http://${addr.address}:${addr.port}/`);
  if (process.env.NOTIFY_SOCKET) {
    execFile("systemd-notify", ["--ready"], (err) => {
      if (err) console.error(`node: cannot report readiness: ${err.message}`);
    });
  }
});
