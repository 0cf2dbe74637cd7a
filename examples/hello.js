// examples/hello.rs's answer from a Node server that binds its own port, as
// most do: the restart benchmark's (benches/restart.rs) server for adoption.
//
//   $ node examples/hello.js --port 5000 --delay-ms 1500
//   $ systemfd -s http::5000 -w examples -- node examples/hello.js --port 5000
//
// `listen(port)` binds `::` itself and knows nothing of LISTEN_FDS or
// READY=1; under `-w` on Linux systemfd adopts that bind, and sees the
// server ready once it waits on the socket. `--delay-ms N` waits N ms
// before listening, standing for start-up work. On SIGTERM it stops
// accepting, finishes the requests in hand and exits: a connection it has
// not accepted stays queued on the shared socket for the next server.
"use strict";

const http = require("node:http");

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const port = option("--port", 5000);
const delay = option("--delay-ms", 0);

const server = http.createServer((req, res) => {
  const body = `Hello from pid ${process.pid}!\n`;
  res.writeHead(200, {
    "Content-Type": "text/plain",
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
  });
  res.end(body);
});

const start = setTimeout(() => {
  server.listen(port, () => {
    console.error(`hello.js: serving on port ${server.address().port}`);
  });
}, delay);

process.on("SIGTERM", () => {
  clearTimeout(start);
  // Called at once, with an error, when the server never listened.
  server.close(() => process.exit(0));
});
