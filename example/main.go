// Command example serves the chat of the original go-macaron/sockets README:
// rooms, names and JSON messages over a WebSocket, with a page to use it.
//
//	cd example && go run . -addr 127.0.0.1:4000
//
// then open http://127.0.0.1:4000 in two browser tabs. With -redis
// 127.0.0.1:6379, rooms are shared with every other server started with the
// same Redis.
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

	"github.com/go-macaron/sockets/hub"
	redisbp "github.com/go-macaron/sockets/hub/redis"
	goredis "github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4000", "address to listen on")
	redisAddr := flag.String("redis", "", "Redis address (host:port) to share rooms with other servers; empty: rooms stay in this process")
	flag.Parse()
	logger := log.New(os.Stdout, "[chat] ", log.LstdFlags)

	opts := hub.Options{Policy: hub.Disconnect, Logger: logger}
	if *redisAddr != "" {
		rdb := goredis.NewClient(&goredis.Options{Addr: *redisAddr})
		defer rdb.Close()
		opts.Backplane = redisbp.New(rdb, redisbp.Options{Logger: logger})
		logger.Printf("rooms shared through Redis at %s", *redisAddr)
	}
	rooms := hub.New[*Message](opts)
	defer rooms.Close()

	signals, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Every WebSocket lives under sockets: Shutdown cancels it, which
	// closes each of them with 1001 (going away). Shutdown itself does not
	// track hijacked connections.
	sockets, closeSockets := context.WithCancel(context.Background())
	srv := newServer(*addr, newApp(sockets, logger, rooms))
	srv.RegisterOnShutdown(closeSockets)
	go func() {
		<-signals.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	logger.Printf("chat on http://%s", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		logger.Print(err)
	}
}

// newServer is the http.Server we recommend for WebSockets in production.
// macaron.Run's server has no timeouts: a client that trickles its request
// headers a byte at a time holds a goroutine for ever. ReadHeaderTimeout
// bounds the handshake, IdleTimeout the keep-alive connections between
// requests, and MaxHeaderBytes a request's headers. ReadTimeout and
// WriteTimeout stay unset: they would cut every WebSocket after that long,
// since a hijacked connection keeps its deadlines (the sockets package bounds
// each write by Options.WriteWait and a silent peer by Options.PongWait).
func newServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
