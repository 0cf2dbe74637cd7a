// The Express recipe (docs/recipes.md): an Express application that binds
// its own port, as Express applications do, run unchanged under systemfd.
//
//   $ npm ci --prefix recipes/express
//   $ systemfd -s http::3000 -w recipes/express -- node recipes/express/app.js
//
// `app.listen(port)` binds the port itself (Node binds `::`, which takes
// IPv4 too). Under `-w` on Linux systemfd adopts that bind: the application
// gets systemfd's socket for 127.0.0.1:3000 in place of its own, and a
// restart hands over without a refused connection. PORT chooses another port.
"use strict";

const express = require("express");

const app = express();
const port = Number(process.env.PORT || 3000);

app.get("/", (req, res) => {
  res.type("text/plain").send(`Hello from Express, pid ${process.pid}!\n`);
});

app.listen(port, (err) => {
  if (err) throw err;
  console.error(`express: serving on port ${port}`);
});
