// Package sockettest runs WebSocket handlers of the sockets package (either
// front: wschan.Handler, or a Macaron app using sockets.Messages,
// ByteSliceMessages or JSON) for tests, as net/http/httptest runs HTTP
// handlers: on a real loopback listener or an in-memory pipe, with a client
// that speaks the protocol.
//
// A Server checks, when the test ends, that every connection it served has
// ended and that no goroutine of one is left; a Client reads in the
// background, so the server never waits for the test to read, and each
// expectation fails the test with what was expected and what came.
package sockettest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-macaron/sockets/wschan"
)

// Wait is the default Server.Timeout.
const Wait = 5 * time.Second

// Server serves a handler for one test.
type Server struct {
	// URL is the base URL, "http://" and the host; WebSocketURL(path)
	// makes the ws:// URL of a path.
	URL string
	// Timeout bounds every blocking step of the server's clients and of
	// its checks: an expectation not met within it fails the test.
	// Default: Wait.
	Timeout time.Duration

	t        testing.TB
	ln       net.Listener
	srv      *http.Server
	dialConn func(ctx context.Context, network, addr string) (net.Conn, error)
	served   chan struct{}

	mu    sync.Mutex
	conns map[string]*tracked // by the peer's address
	wake  chan struct{}       // closed (and replaced) at each upgrade
	next  chan *wschan.Connection

	handlers sync.WaitGroup
	open     atomic.Int64
	running  map[string]bool // the goroutines of the handlers running, by id; under mu
}

// tracked is one connection the server upgraded.
type tracked struct {
	conn  *wschan.Connection
	ended chan struct{}
}

// NewServer serves h on a loopback TCP listener until the test ends.
func NewServer(t testing.TB, h http.Handler) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sockettest: listen: %v", err)
	}
	d := &net.Dialer{Timeout: Wait}
	return start(t, h, ln, d.DialContext)
}

// NewPipeServer serves h over in-memory connections (net.Pipe) until the
// test ends: no port is used, and nothing leaves the process.
func NewPipeServer(t testing.TB, h http.Handler) *Server {
	t.Helper()
	pl := newPipeListener()
	return start(t, h, pl, pl.dial)
}

func start(t testing.TB, h http.Handler, ln net.Listener, dial func(context.Context, string, string) (net.Conn, error)) *Server {
	s := &Server{URL: "http://" + ln.Addr().String(), Timeout: Wait, t: t, ln: ln, dialConn: dial, served: make(chan struct{}),
		conns: make(map[string]*tracked), wake: make(chan struct{}), next: make(chan *wschan.Connection, 1024),
		running: make(map[string]bool)}
	trace := &wschan.ConnTrace{Upgraded: s.upgraded, Ended: s.ended}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.handlers.Add(1)
			defer s.handlers.Done()
			id := goroutineID()
			s.mu.Lock()
			s.running[id] = true
			s.mu.Unlock()
			defer func() {
				s.mu.Lock()
				delete(s.running, id)
				s.mu.Unlock()
			}()
			h.ServeHTTP(w, r.WithContext(wschan.WithConnTrace(r.Context(), trace)))
		}),
		ReadHeaderTimeout: Wait,
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(s.Close)
	return s
}

// WebSocketURL returns the ws:// URL of path on the server.
func (s *Server) WebSocketURL(path string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + path
}

func (s *Server) upgraded(c *wschan.Connection) {
	s.open.Add(1)
	s.mu.Lock()
	s.conns[c.RemoteAddr()] = &tracked{conn: c, ended: make(chan struct{})}
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	select {
	case s.next <- c:
	default: // nobody takes them: the buffer only serves NextConnection
	}
}

func (s *Server) ended(c *wschan.Connection) {
	s.mu.Lock()
	tc := s.conns[c.RemoteAddr()]
	s.mu.Unlock()
	if tc != nil {
		close(tc.ended)
	}
	s.open.Add(-1)
}

// NextConnection returns the server side of the next connection the server
// upgrades (in order), waiting for it at most the server's Timeout.
func (s *Server) NextConnection() *wschan.Connection {
	s.t.Helper()
	select {
	case c := <-s.next:
		return c
	case <-time.After(s.Timeout):
		s.t.Fatalf("sockettest: no connection was upgraded within %v", s.Timeout)
		return nil
	}
}

// record waits until the connection whose peer address is addr has ended
// and returns its close record.
func (s *Server) record(addr string) (wschan.CloseRecord, error) {
	deadline := time.After(s.Timeout)
	for {
		s.mu.Lock()
		tc, wake := s.conns[addr], s.wake
		s.mu.Unlock()
		if tc == nil {
			select {
			case <-wake: // another connection was upgraded: look again
				continue
			case <-deadline:
				return wschan.CloseRecord{}, fmt.Errorf("the server upgraded no connection from %s within %v", addr, s.Timeout)
			}
		}
		select {
		case <-tc.ended:
			r, _ := tc.conn.CloseRecord()
			return r, nil
		case <-deadline:
			return wschan.CloseRecord{}, fmt.Errorf("the server's connection with %s did not end within %v", addr, s.Timeout)
		}
	}
}

// Close stops the server and checks that every connection it served has
// ended and every handler returned. A handler still running after Timeout
// (one that never watches Done) fails the test with its goroutine's stack,
// and Close returns without it. It runs when the test ends, after the
// clients are closed; calling it earlier is allowed.
func (s *Server) Close() {
	if s.srv == nil {
		return
	}
	srv := s.srv
	s.srv = nil
	_ = srv.Close()
	<-s.served
	ended := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(s.Timeout):
		s.mu.Lock()
		stacks := handlerStacks(s.running)
		s.mu.Unlock()
		s.t.Errorf("sockettest: %d connections still open %v after the test: their handlers have not returned "+
			"(a handler must return once Done fires):\n%s", s.open.Load(), s.Timeout, stacks)
	}
}

// goroutineID returns the id of the calling goroutine, as its stack trace
// names it.
func goroutineID() string {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf[:n]), "goroutine "), " ")
	return id
}

// handlerStacks returns the stack traces of the goroutines in ids.
func handlerStacks(ids map[string]bool) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		if ids[id] {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// pipeListener hands out the server ends of net.Pipe connections.
type pipeListener struct {
	conns chan net.Conn
	ctx   context.Context // done once the listener is closed
	close context.CancelFunc
	n     atomic.Int64
}

func newPipeListener() *pipeListener {
	l := &pipeListener{conns: make(chan net.Conn)}
	l.ctx, l.close = context.WithCancel(context.Background())
	return l
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error { l.close(); return nil }

func (l *pipeListener) Addr() net.Addr { return pipeAddr("pipe") }

// dial connects a new pipe, its ends named so that the server knows its
// peer's address as a TCP server does.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	name := pipeAddr(fmt.Sprintf("pipe-client-%d", l.n.Add(1)))
	select {
	case l.conns <- &namedConn{server, pipeAddr("pipe"), name}:
		return &namedConn{client, name, pipeAddr("pipe")}, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

type namedConn struct {
	net.Conn
	local, remote net.Addr
}

func (c *namedConn) LocalAddr() net.Addr  { return c.local }
func (c *namedConn) RemoteAddr() net.Addr { return c.remote }
