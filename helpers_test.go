package sockets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-macaron/sockets/internal/wstest"
	gorilla "github.com/gorilla/websocket"
	"go.uber.org/goleak"
	"gopkg.in/macaron.v1"
)

// wait bounds every blocking step of a test. Nothing waits on it for
// success: it only turns a hang into a failure.
const wait = 5 * time.Second

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the logged lines.
func (b *logBuffer) lines() []string {
	s := strings.TrimRight(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// testServer is a Macaron app on a loopback port the OS picked, serving the
// middleware and handler under test at /ws.
type testServer struct {
	t        *testing.T
	srv      *httptest.Server
	host     string        // host:port
	url      string        // ws://host:port/ws
	macaron  *logBuffer    // Macaron's logger (recovery's PANIC lines)
	httpLog  *logBuffer    // net/http's error log
	finished chan struct{} // receives once per request the middleware returned from
}

// newLogger returns a logger writing bare lines to w.
func newLogger(w io.Writer) *log.Logger { return log.New(w, "", 0) }

// testOptions returns test options writing to logs, with short timings
// unless the caller overrides them, and ParkAfter from SOCKETS_PARK_AFTER
// when that is set (see TestMain).
func testOptions(logs *logBuffer) *Options {
	park, _ := time.ParseDuration(os.Getenv("SOCKETS_PARK_AFTER"))
	return &Options{
		ParkAfter:  park,
		Logger:     log.New(logs, "[sockets] ", 0),
		LogLevel:   LogLevelDebug,
		WriteWait:  time.Second,
		PongWait:   2 * time.Second,
		PingPeriod: time.Second,
	}
}

// checkLeaks registers a goroutine leak check that runs after every other
// cleanup of the test, servers and clients included. Call it first.
func checkLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// serve starts a server whose /ws route runs handlers (the middleware first),
// and registers its shutdown; the test's clients close before it.
func serve(t *testing.T, handlers ...macaron.Handler) *testServer {
	t.Helper()
	return serveWrapped(t, nil, handlers...)
}

// serveWrapped is serve with each accepted connection passed through wrap
// (when not nil), as a wrapping listener does.
func serveWrapped(t *testing.T, wrap func(net.Conn) net.Conn, handlers ...macaron.Handler) *testServer {
	t.Helper()
	ts := &testServer{t: t, macaron: &logBuffer{}, httpLog: &logBuffer{}, finished: make(chan struct{}, 64)}
	m := macaron.New()
	m.Map(log.New(ts.macaron, "[Macaron] ", 0))
	m.Use(func(c *macaron.Context) {
		defer func() {
			select {
			case ts.finished <- struct{}{}:
			default: // nobody counts past the buffer (the load test)
			}
		}()
		c.Next()
	})
	m.Use(macaron.Recovery())
	m.Any("/ws", handlers...)
	ts.srv = httptest.NewUnstartedServer(m)
	if wrap != nil {
		ts.srv.Listener = wstest.Listener{Listener: ts.srv.Listener, Wrap: wrap}
	}
	ts.srv.Config.ErrorLog = newLogger(ts.httpLog)
	ts.srv.Start()
	ts.host = strings.TrimPrefix(ts.srv.URL, "http://")
	ts.url = "ws://" + ts.host + "/ws"
	t.Cleanup(func() {
		ts.srv.Close()
		if s := ts.httpLog.String(); s != "" {
			t.Errorf("net/http logged: %s", s)
		}
	})
	return ts
}

// dial connects a gorilla client with the server's own origin.
func (ts *testServer) dial() *gorilla.Conn {
	ts.t.Helper()
	c, resp, err := ts.dialHeader(http.Header{"Origin": {"http://" + ts.host}})
	if err != nil {
		ts.t.Fatalf("dial: %v (response %v)", err, resp)
	}
	return c
}

func (ts *testServer) dialHeader(h http.Header) (*gorilla.Conn, *http.Response, error) {
	d := gorilla.Dialer{HandshakeTimeout: wait}
	c, resp, err := d.Dial(ts.url, h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if c != nil {
		ts.t.Cleanup(func() { _ = c.Close() })
	}
	return c, resp, err
}

// waitFinished waits until the middleware has returned for one request.
func (ts *testServer) waitFinished() {
	ts.t.Helper()
	select {
	case <-ts.finished:
	case <-time.After(wait):
		ts.t.Fatal("the middleware did not return")
	}
}

// readMessage reads one message with a deadline.
func readMessage(t *testing.T, c *gorilla.Conn) (int, []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	typ, p, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, p
}

// readClose reads until the server's close frame and returns its code and
// reason; -1 when the connection ended without one.
func readClose(t *testing.T, c *gorilla.Conn) (int, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *gorilla.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no close from the server: %v", err)
		}
		return -1, err.Error()
	}
}

// recv receives one value from ch within the test bound.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// end is what a handler observed of a connection's end.
type end struct {
	err        error // the value on the error channel, nil if none
	firstDone  bool  // done's first value was true
	doneClosed bool  // done was closed after its one true
	errClosed  bool  // the error channel was closed after its value, if any
}

// watchEnd waits for done and checks the promised order: the cause, if any,
// is already on the error channel when done fires; then done and the error
// channel are closed. Call it from the handler.
func watchEnd(done <-chan bool, errc <-chan error) end {
	select {
	case first := <-done:
		return endAfter(first, done, errc)
	case <-time.After(wait):
		return end{}
	}
}

// endAfter is watchEnd once done has yielded first.
func endAfter(first bool, done <-chan bool, errc <-chan error) end {
	e := end{firstDone: first}
	timeout := time.After(wait)
	select {
	case err, ok := <-errc:
		if ok {
			e.err = err
		} else {
			e.errClosed = true
		}
	default:
	}
	select {
	case v, ok := <-done:
		e.doneClosed = !ok && !v
	case <-timeout:
		return e
	}
	for !e.errClosed {
		select {
		case err, ok := <-errc:
			if !ok {
				e.errClosed = true
			} else if e.err == nil {
				e.err = fmt.Errorf("cause arrived after done: %w", err)
			}
		case <-timeout:
			return e
		}
	}
	return e
}

// clean reports whether the end had done fire once and both channels closed.
func (e end) clean() bool { return e.firstDone && e.doneClosed && e.errClosed }

// probe is a handler that reports what it receives on got, sends what the
// test puts on send, passes codes from disconnect on, and reports the end.
type probe[T any] struct {
	got        chan T
	send       chan T
	disconnect chan int
	ends       chan end
}

func newProbe[T any]() *probe[T] {
	return &probe[T]{got: make(chan T, 100), send: make(chan T, 100), disconnect: make(chan int, 1), ends: make(chan end, 1)}
}

func (p *probe[T]) handler(in <-chan T, out chan<- T, errc <-chan error, disc chan<- int, done <-chan bool) {
	for {
		select {
		case m := <-in:
			p.got <- m
		case m := <-p.send:
			out <- m
		case code := <-p.disconnect:
			disc <- code
		case first := <-done:
			// What is left in the receiver stays readable after done.
			for len(in) > 0 {
				p.got <- <-in
			}
			p.ends <- endAfter(first, done, errc)
			return
		}
	}
}

// end waits for the handler's report of the end.
func (p *probe[T]) end(t *testing.T) end {
	t.Helper()
	return recv(t, p.ends, "the end of the connection")
}

// next waits for the next value the handler received.
func (p *probe[T]) next(t *testing.T) T {
	t.Helper()
	return recv(t, p.got, "a message at the handler")
}

// write sends one message from the client.
func write(t *testing.T, c *gorilla.Conn, typ int, p []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(wait))
	if err := c.WriteMessage(typ, p); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// closeFrom sends a close frame from the client.
func closeFrom(t *testing.T, c *gorilla.Conn, code int, reason string) {
	t.Helper()
	msg := gorilla.FormatCloseMessage(code, reason)
	if err := c.WriteControl(gorilla.CloseMessage, msg, time.Now().Add(wait)); err != nil {
		t.Fatalf("write close: %v", err)
	}
}
