// Command example serves the chat of the original go-macaron/sockets README:
// rooms, names and JSON messages over a WebSocket, with a page to use it.
//
//	go run ./example -addr 127.0.0.1:4000
//
// then open http://127.0.0.1:4000 in two browser tabs.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4000", "address to listen on")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second}
	srv.Handler = newApp(ctx, log.New(os.Stdout, "[chat] ", log.LstdFlags))
	go func() {
		<-ctx.Done()
		// Cancelling ctx closes every WebSocket with 1001 (going away);
		// Shutdown then waits for the plain HTTP requests.
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("chat on http://%s", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
