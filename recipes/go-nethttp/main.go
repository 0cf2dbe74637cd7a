// The Go net/http recipe (docs/recipes.md): a plain net/http server that
// binds its own port with http.ListenAndServe, run unchanged under systemfd.
//
//	$ systemfd -s http::8080 -w recipes/go-nethttp -- go run recipes/go-nethttp/main.go
//
// Under -w on Linux systemfd adopts the bind of ":8080" (a wildcard address,
// which matches systemfd's 127.0.0.1:8080): the server gets systemfd's socket
// in place of its own, and a restart hands over without a refused
// connection. `go run` may sit in between: adoption reaches every process
// the command starts. PORT chooses another port.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "Hello from Go net/http, pid %d!\n", os.Getpid())
	})
	log.Printf("hello-nethttp: serving on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
