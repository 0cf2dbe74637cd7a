<?php
// The PHP recipe (docs/recipes.md): PHP's built-in web server, which binds
// its own port, serving this directory, run unchanged under systemfd.
//
//   $ systemfd -s http::8000 -w recipes/php -- php -S localhost:8000 -t recipes/php
//
// Under -w on Linux systemfd adopts the server's bind: it gets systemfd's
// socket for 127.0.0.1:8000 in place of its own (`localhost` may resolve to
// ::1 first; both are loopback, which adoption matches across families), and
// a restart hands over without a refused connection.
header('Content-Type: text/plain');
echo 'Hello from PHP, pid ' . getmypid() . "!\n";
