// The Go recipe (docs/recipes.md): net/http on the socket systemfd passes,
// read with go-systemd's activation package, and readiness reported with its
// daemon package so that supervise mode (-w) hands over without a gap.
//
//	$ GO111MODULE=off GOPATH=/usr/share/gocode go build -o hello-go ./recipes/go
//	$ systemfd -s http::8080 -- ./hello-go
//
// It builds in GOPATH mode against Debian's golang-github-coreos-go-systemd-dev,
// whose import path has no /v22; in a module, import
// github.com/coreos/go-systemd/v22/activation and .../v22/daemon instead.
//
// go-systemd checks LISTEN_PID against its own pid: run the built binary
// (systemfd execs it), not `go run`, whose child has another pid.
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/coreos/go-systemd/activation"
	"github.com/coreos/go-systemd/daemon"
)

func main() {
	listeners, err := activation.Listeners()
	if err != nil {
		log.Fatalf("hello-go: %v", err)
	}
	var listener net.Listener
	if len(listeners) > 0 && listeners[0] != nil {
		listener = listeners[0]
	} else {
		// Not started by systemfd (or LISTEN_PID is not ours): bind alone.
		if listener, err = net.Listen("tcp", "127.0.0.1:8080"); err != nil {
			log.Fatalf("hello-go: %v", err)
		}
	}
	log.Printf("hello-go: serving http://%s/", listener.Addr())
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Printf("hello-go: cannot report readiness: %v", err)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from Go, pid %d!\n", os.Getpid())
	})
	log.Fatal(http.Serve(listener, nil))
}
