// Command example serves the chat of the original go-macaron/sockets README:
// rooms, names and JSON messages over a WebSocket, with a page to use it.
//
//	go -C example run . -addr 127.0.0.1:4000
//	go -C example run . -front net/http   # the same chat on a plain ServeMux
//
// then open http://127.0.0.1:4000 in two browser tabs. With -redis
// 127.0.0.1:6379, rooms are shared with every other server started with the
// same Redis.
//
// Ctrl-C (or SIGTERM) shuts it down within a second, saying what it does:
// it stops accepting, closes every WebSocket with 1001 (going away), waits
// for their handlers (at most -grace), closes the plain HTTP connections
// left (a browser's idle preconnects would otherwise hold it five seconds),
// then exits 0. A start-up failure (the port is taken, Redis is
// unreachable) exits 1 with a message saying what failed; a bad flag or
// argument exits 2 with the usage; -h prints the usage and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
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
	signals, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(signals, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program: it returns the exit status once ctx is done
// and the server has shut down, or at once when it cannot start.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("chat", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: chat [flags]   (go -C example run . [flags])\n\n"+
			"Serves the chat on http://127.0.0.1:4000 until Ctrl-C.\n\nflags:\n")
		flags.PrintDefaults()
	}
	addr := flags.String("addr", "127.0.0.1:4000", "address to listen on")
	redisAddr := flags.String("redis", "", "Redis address (host:port) to share rooms with other servers; empty: rooms stay in this process")
	grace := flags.Duration("grace", 10*time.Second, "how long a shutdown waits for the connections to close")
	front := flags.String("front", "macaron", "which front serves the chat: macaron, or net/http (the standard ServeMux alone)")
	redisCheck := flags.Duration("redis-check", 2*time.Second, "how often the Redis connection is checked, with -redis")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "chat: unexpected argument %q: every setting is a flag\n", flags.Arg(0))
		flags.Usage()
		return 2
	}

	// Listen first: the URL is printed only once it can be reached.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "chat: cannot listen on %s: %v\n", *addr, err)
		return 1
	}
	// Every line says which server wrote it: several may share a terminal.
	logger := log.New(stdout, "["+ln.Addr().String()+"] ", log.LstdFlags)

	// The hub keeps each room's history: a page that reconnects resumes
	// from its last message. With Redis, the history is each room's
	// stream (Durable mode), shared by every server: a page resumes on any
	// of them, and every member sees the room in one order.
	opts := hub.Options{Policy: hub.Disconnect, Logger: logger, History: historyKept}
	var rdb *goredis.Client
	if *redisAddr != "" {
		rdb, err = connectRedis(ctx, *redisAddr, logger)
		if err != nil {
			_ = ln.Close()
			fmt.Fprintf(stderr, "chat: %v\n", err)
			return 1
		}
		defer rdb.Close()
		opts.Backplane = redisbp.New(rdb, redisbp.Options{Logger: logger, Durable: true})
	}
	rooms := hub.New[*Message](opts)
	defer rooms.Close()

	// Every WebSocket lives under sockets: Shutdown cancels it, which
	// closes each of them with 1001 (going away). Shutdown itself neither
	// closes nor waits for hijacked connections: app.wait does.
	sockets, closeSockets := context.WithCancel(context.Background())
	defer closeSockets()
	app, err := newApp(sockets, logger, rooms, *front)
	if err != nil {
		_ = ln.Close()
		fmt.Fprintf(stderr, "chat: %v\n", err)
		return 2
	}
	if rdb != nil {
		go watchRedis(ctx, rdb, *redisAddr, *redisCheck, logger, app.chat.setServersUp)
	}
	srv := newServer(*addr, app)
	srv.ErrorLog = logger
	srv.RegisterOnShutdown(closeSockets)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Printf("chat on http://%s, served by the %s front (Ctrl-C to stop)", ln.Addr(), *front)

	select {
	case err := <-served:
		logger.Printf("the server stopped: %v", err)
		return 1
	case <-ctx.Done():
	}
	logger.Printf("shutting down: closing every WebSocket with 1001 (going away)")
	deadline, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	status := 0
	// Shutdown stops accepting and cancels the WebSockets' context
	// (RegisterOnShutdown); the plain HTTP connections get a moment to
	// finish a request, then are closed: an idle connection that never
	// sent one (a browser's preconnect) would hold Shutdown five seconds.
	requests, cancelRequests := context.WithTimeout(deadline, 500*time.Millisecond)
	defer cancelRequests()
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(requests) }()
	if err := app.wait(deadline); err != nil {
		logger.Printf("shutdown: %v", err)
		status = 1
	}
	if err := <-shutdown; errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
	} else if err != nil {
		logger.Printf("shutdown: %v", err)
		status = 1
	}
	<-served // http.ErrServerClosed
	logger.Printf("stopped")
	return status
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

// quietRedis replaces go-redis's own log lines (connection pool
// messages); the example says what matters in its own words.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// connectRedis connects to Redis and checks that it answers: a server
// started with -redis that cannot reach it fails at once rather than
// serving rooms that other servers never see (watchRedis then watches
// it).
func connectRedis(ctx context.Context, addr string, logger *log.Logger) (*goredis.Client, error) {
	goredis.SetLogger(quietRedis{})
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	check, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(check).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s (%v): start redis-server there, or leave out -redis to keep rooms in this process", addr, err)
	}
	logger.Printf("rooms shared through Redis at %s", addr)
	return rdb, nil
}

// watchRedis checks Redis every period and, at each change of its
// reachability, logs it and calls changed (the chat tells its members),
// until ctx is done or the client is closed.
func watchRedis(ctx context.Context, rdb *goredis.Client, addr string, every time.Duration, logger *log.Logger, changed func(up bool)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	up := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		check, cancel := context.WithTimeout(ctx, min(every, time.Second))
		err := rdb.Ping(check).Err()
		cancel()
		switch {
		case errors.Is(err, goredis.ErrClosed):
			return
		case err != nil && up:
			logger.Printf("Redis at %s is unreachable (%v): messages stay on this server until it is back", addr, err)
		case err == nil && !up:
			logger.Printf("Redis at %s is back: rooms are shared again", addr)
		}
		if up != (err == nil) {
			changed(err == nil)
		}
		up = err == nil
	}
}
