package sockets

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"

	"github.com/go-macaron/sockets/hub"
	"github.com/go-macaron/sockets/internal/wstest"
	"github.com/go-macaron/sockets/wschan"
)

// The original README's handler loop, as most programs copied it: an error
// branch that logs and does not return, a done branch that returns. These
// tests end 50 connections each way and count what each branch saw.

// loopCounts is what README-shaped handlers saw, over every connection.
type loopCounts struct {
	mu       sync.Mutex
	conns    int // handlers that returned
	errRuns  int // error branch runs, over every connection
	nilErrs  int // of which with a nil error
	repeats  int // connections whose error branch ran more than once
	doneRuns int // done branch runs
}

// record adds one connection's counts.
func (c *loopCounts) record(errRuns, nilErrs, doneRuns int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns++
	c.errRuns += errRuns
	c.nilErrs += nilErrs
	c.doneRuns += doneRuns
	if errRuns > 1 {
		c.repeats++
	}
}

func (c *loopCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d handlers returned; error branch ran %d times (%d with nil, %d connections more than once); done branch %d times",
		c.conns, c.errRuns, c.nilErrs, c.repeats, c.doneRuns)
}

// readmeMacaron is the original README's handler verbatim (its ticker made
// a message, "bye", so that a test can ask for the disconnect), with
// counters, and an error branch that renders through Macaron as real
// programs do.
func readmeMacaron(counts *loopCounts) any {
	return func(ctx *macaron.Context, receiver <-chan *ChatMessage, sender chan<- *ChatMessage, done <-chan bool, disconnect chan<- int, errorChannel <-chan error) (int, string) {
		var errRuns, nilErrs, doneRuns int
		defer func() { counts.record(errRuns, nilErrs, doneRuns) }()
		for {
			select {
			case msg := <-receiver:
				if msg.Text == "bye" {
					disconnect <- gorilla.CloseNormalClosure
					continue
				}
				sender <- msg
			case <-done:
				doneRuns++
				// What programs do on the way out, after the upgrade:
				// none of it may reach the socket or make a log line.
				ctx.Resp.Header().Set("X-After", "upgrade")
				ctx.Resp.WriteHeader(http.StatusTeapot)
				_, _ = ctx.Resp.Write([]byte("late"))
				ctx.Redirect("/elsewhere")
				ctx.PlainText(http.StatusOK, []byte("late"))
				ctx.JSON(http.StatusOK, map[string]string{"late": "yes"})
				return 200, "OK"
			case err := <-errorChannel:
				errRuns++
				if err == nil {
					nilErrs++
				}
				ctx.Error(http.StatusInternalServerError, fmt.Sprint(err))
			}
		}
	}
}

// readmeHTTP is the same loop on the net/http front.
func readmeHTTP(counts *loopCounts) func(*wschan.Conn[*ChatMessage]) {
	return func(c *wschan.Conn[*ChatMessage]) {
		var errRuns, nilErrs, doneRuns int
		defer func() { counts.record(errRuns, nilErrs, doneRuns) }()
		for {
			select {
			case msg := <-c.Receiver:
				if msg.Text == "bye" {
					c.Disconnect <- gorilla.CloseNormalClosure
					continue
				}
				c.Sender <- msg
			case <-c.Done:
				doneRuns++
				return
			case err := <-c.Error:
				errRuns++
				if err == nil {
					nilErrs++
				}
			}
		}
	}
}

// ending is one way a connection ends, as the client drives it.
type loopEnding struct {
	name  string
	cause bool                        // the ending puts a cause on the error channel
	opts  func(o *Options)            // adjusts the options
	end   func(c *gorilla.Conn) error // drives the end from the client; nil: the server shuts down
}

func loopEndings() []loopEnding {
	text := func(s string) func(c *gorilla.Conn) error {
		return func(c *gorilla.Conn) error { return c.WriteMessage(gorilla.TextMessage, []byte(s)) }
	}
	closeWith := func(code int) func(c *gorilla.Conn) error {
		return func(c *gorilla.Conn) error {
			return c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(code, "x"), time.Now().Add(wait))
		}
	}
	return []loopEnding{
		{name: "tcp drop", cause: true, end: func(c *gorilla.Conn) error { return c.UnderlyingConn().Close() }},
		{name: "close 1000", end: closeWith(1000)},
		{name: "close 1001", end: closeWith(1001)},
		{name: "close 4001", cause: true, end: closeWith(4001)},
		{name: "close 1011", cause: true, end: closeWith(1011)},
		{name: "bad json", cause: true, end: text(`{"text":`)},
		{name: "oversized", cause: true, opts: func(o *Options) { o.MaxMessageSize = 64 },
			end: text(`{"text":"` + strings.Repeat("x", 64) + `"}`)},
		{name: "invalid utf-8", cause: true, end: text("{\"text\":\"\xc3\x28\"}")},
		{name: "ping timeout", cause: true, opts: func(o *Options) {
			o.PingPeriod, o.PongWait = 50*time.Millisecond, 300*time.Millisecond
		}, end: func(*gorilla.Conn) error { return nil }}, // the client never reads: no pong
		{name: "write stall", cause: true, opts: func(o *Options) {
			o.WriteWait, o.MaxMessageSize = 300*time.Millisecond, 1<<20
		}, end: text(`{"text":"` + strings.Repeat("x", 512<<10) + `"}`)}, // echoed, never read
		{name: "handler disconnect", end: text(`{"text":"bye"}`)},
		{name: "server shutdown", cause: true},
	}
}

// smallSendBuffer shrinks the server's kernel send buffer, and
// smallReceiveBuffer the client's receive buffer, so that a peer that does
// not read stalls the server's writes within a few kilobytes.
func smallSendBuffer(c net.Conn) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c
}

func smallReceiveBuffer(c net.Conn) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	return c
}

// loopConns is how many connections each ending ends.
const loopConns = 50

// TestReadmeLoopEachEndOnce: a handler written as the original's README
// shows runs its error branch at most once per connection and never with a
// nil error, then its done branch, for every way a connection ends, on
// both fronts; nothing it writes through Macaron after the upgrade reaches
// the socket or makes net/http or Macaron log a line.
func TestReadmeLoopEachEndOnce(t *testing.T) {
	for _, front := range []string{"macaron", "net/http"} {
		for _, e := range loopEndings() {
			t.Run(front+"/"+e.name, func(t *testing.T) {
				checkLeaks(t)
				counts := &loopCounts{}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				o := testOptions(&logBuffer{})
				o.Context = ctx
				if e.opts != nil {
					e.opts(o)
				}
				var url string
				var finished func(n int)
				var httpLog, macaronLog *logBuffer
				if front == "macaron" {
					ts := serveWrapped(t, smallSendBuffer, JSON(ChatMessage{}, o), macaron.Renderer(macaron.RenderOptions{Directory: t.TempDir()}), readmeMacaron(counts))
					url, httpLog, macaronLog = ts.url, ts.httpLog, ts.macaron
					finished = func(n int) {
						for range n {
							ts.waitFinished()
						}
					}
				} else {
					url, httpLog, finished = serveHTTP(t, smallSendBuffer, wschan.Handler(readmeHTTP(counts), o))
				}
				clients := make([]*gorilla.Conn, loopConns)
				for i := range clients {
					clients[i] = dialReadme(t, url)
				}
				var wg sync.WaitGroup
				errs := make(chan error, loopConns)
				if e.end == nil {
					cancel()
				} else {
					for _, c := range clients {
						wg.Add(1)
						go func() {
							defer wg.Done()
							if err := e.end(c); err != nil {
								errs <- err
							}
						}()
					}
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatalf("client: %v", err)
				}
				finished(loopConns)
				for _, c := range clients {
					_ = c.Close()
				}
				counts.mu.Lock()
				ok := counts.conns == loopConns && counts.doneRuns == loopConns && counts.nilErrs == 0 && counts.repeats == 0 &&
					(!e.cause || counts.errRuns > 0) && (e.cause || counts.errRuns == 0)
				counts.mu.Unlock()
				if !ok {
					t.Errorf("%s, over %d connections (cause expected: %v)", counts, loopConns, e.cause)
				}
				if s := httpLog.String(); strings.Contains(s, "hijacked") {
					t.Errorf("net/http logged: %s", s)
				}
				if macaronLog != nil {
					if s := macaronLog.String(); s != "" {
						t.Errorf("Macaron logged: %s", s)
					}
				}
			})
		}
	}
}

// dialReadme connects a client that reads nothing (its pongs included)
// until the test closes it.
func dialReadme(t *testing.T, url string) *gorilla.Conn {
	t.Helper()
	host, _, _ := strings.Cut(strings.TrimPrefix(url, "ws://"), "/")
	d := gorilla.Dialer{HandshakeTimeout: wait, NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err != nil {
			return nil, err
		}
		return smallReceiveBuffer(c), nil
	}}
	c, resp, err := d.Dial(url, http.Header{"Origin": {"http://" + host}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// serveHTTP serves h at /ws on a plain net/http server, each accepted
// connection passed through wrap. It returns the URL, net/http's error log
// and a function that waits until n requests have returned.
func serveHTTP(t *testing.T, wrap func(net.Conn) net.Conn, h http.Handler) (url string, httpLog *logBuffer, finished func(n int)) {
	t.Helper()
	var returned atomic.Int64
	ended := make(chan struct{}, 1024)
	mux := http.NewServeMux()
	mux.Handle("/ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			returned.Add(1)
			ended <- struct{}{}
		}()
		h.ServeHTTP(w, r)
	}))
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = wstest.Listener{Listener: srv.Listener, Wrap: wrap}
	httpLog = &logBuffer{}
	srv.Config.ErrorLog = newLogger(httpLog)
	srv.Start()
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", httpLog, func(n int) {
		t.Helper()
		for range n {
			select {
			case <-ended:
			case <-time.After(wait):
				t.Fatalf("%d of %d handlers returned", returned.Load(), n)
			}
		}
	}
}

// TestErrorChannelAfterDone: a handler that reads the error channel once
// done fired gets the cause, or the channel closed, at once (well before
// the grace for handlers that never read done); one that only ranges over
// the error channel, never reading done, gets the cause once, then the
// channel closed within the grace, and returns: neither hangs or leaks.
func TestErrorChannelAfterDone(t *testing.T) {
	type seen struct {
		causes  int
		nils    int
		elapsed time.Duration // from the client's end to the handler's return
	}
	shapes := map[string]func(c *wschan.Conn[string]) seen{
		"reads error after done": func(c *wschan.Conn[string]) seen {
			<-c.Done
			start := time.Now()
			var s seen
			if err, ok := <-c.Error; ok && err != nil {
				s.causes++
			} else if ok {
				s.nils++
			}
			if _, ok := <-c.Error; ok {
				s.nils++ // a second value, or a nil one
			}
			s.elapsed = time.Since(start)
			return s
		},
		"ranges over error": func(c *wschan.Conn[string]) seen {
			var s seen
			for err := range c.Error {
				if err == nil {
					s.nils++
				} else {
					s.causes++
				}
			}
			return s
		},
	}
	for name, shape := range shapes {
		for _, cause := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/cause=%v", name, cause), func(t *testing.T) {
				checkLeaks(t)
				const conns = 10
				got := make(chan seen, conns)
				url, _, finished := serveHTTP(t, func(c net.Conn) net.Conn { return c },
					wschan.Handler(func(c *wschan.Conn[string]) { got <- shape(c) }, testOptions(&logBuffer{})))
				for range conns {
					c := dialReadme(t, url)
					if cause {
						_ = c.UnderlyingConn().Close() // a TCP drop: a cause
					} else {
						_ = c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, ""), time.Now().Add(wait))
					}
				}
				for range conns {
					select {
					case s := <-got:
						want := 0
						if cause {
							want = 1
						}
						if s.causes != want || s.nils != 0 {
							t.Errorf("the handler saw %d causes and %d nil errors, want %d and 0", s.causes, s.nils, want)
						}
						if s.elapsed >= wschan.DoneGrace {
							t.Errorf("the error channel closed %v after done was taken, want at once", s.elapsed)
						}
					case <-time.After(wschan.DoneGrace + wait):
						t.Fatal("a handler is still waiting for the error channel")
					}
				}
				finished(conns)
			})
		}
	}
}

// rowReadmeLoop: compat 9.4, the original README's loop over TCP drops on
// the Macaron front.
func rowReadmeLoop(t *testing.T) {
	counts := &loopCounts{}
	ts := serve(t, JSON(ChatMessage{}, testOptions(&logBuffer{})),
		macaron.Renderer(macaron.RenderOptions{Directory: t.TempDir()}), readmeMacaron(counts))
	const conns = 20
	for range conns {
		_ = ts.dial().UnderlyingConn().Close()
	}
	for range conns {
		ts.waitFinished()
	}
	counts.mu.Lock()
	defer counts.mu.Unlock()
	if counts.conns != conns || counts.doneRuns != conns || counts.nilErrs != 0 || counts.repeats != 0 || counts.errRuns == 0 {
		t.Fatalf("%d handlers returned; error branch %d times, %d with nil, %d connections more than once; done %d times",
			counts.conns, counts.errRuns, counts.nilErrs, counts.repeats, counts.doneRuns)
	}
}

// rowRenderAfterUpgrade: compat 12.5. Every handler after the middleware
// runs, in turn, until one writes (as the original's writer, which the
// upgrade never wrote through, let it); what they write or render after
// the upgrade goes nowhere and nothing is logged (serve checks net/http's
// log).
func rowRenderAfterUpgrade(t *testing.T) {
	ran := make(chan string, 4)
	ts := serve(t, Messages(testOptions(&logBuffer{})),
		macaron.Renderer(macaron.RenderOptions{Directory: t.TempDir()}),
		func(ctx *macaron.Context) {
			ran <- "second"
			ctx.Resp.Header().Set("X-Late", "1")
		},
		func(ctx *macaron.Context, done <-chan bool) {
			ran <- "third"
			<-done
			ctx.Error(http.StatusInternalServerError, "late")
			ctx.Redirect("/elsewhere")
			ctx.JSON(http.StatusOK, map[string]int{"late": 1})
			_, _ = ctx.Write([]byte("late"))
		},
		func() { ran <- "after a write" })
	c := ts.dial()
	closeFrom(t, c, 1000, "")
	if code, reason := readClose(t, c); code != 1000 {
		t.Fatalf("got %d %q, want the close echo and nothing before it", code, reason)
	}
	ts.waitFinished()
	close(ran)
	var order []string
	for r := range ran {
		order = append(order, r)
	}
	if strings.Join(order, ",") != "second,third" {
		t.Fatalf("handlers ran: %v, want second and third (the one after the write not)", order)
	}
}

// TestReadmeLoopWithHub: a README-shaped loop whose connection is in a
// hub room (JoinConn) still runs its error branch at most once, never with
// nil: the hub watches the connection's end, not done's one value.
func TestReadmeLoopWithHub(t *testing.T) {
	checkLeaks(t)
	h := hub.New[*ChatMessage](hub.Options{})
	defer h.Close()
	counts := &loopCounts{}
	loop := readmeHTTP(counts)
	url, _, finished := serveHTTP(t, func(c net.Conn) net.Conn { return c },
		wschan.Handler(func(c *wschan.Conn[*ChatMessage]) {
			if _, err := h.JoinConn("room", c.Connection.RemoteAddr(), c); err != nil {
				t.Error(err)
			}
			loop(c)
		}, testOptions(&logBuffer{})))
	const conns = 50
	for range conns {
		c := dialReadme(t, url)
		_ = c.UnderlyingConn().Close()
	}
	finished(conns)
	counts.mu.Lock()
	defer counts.mu.Unlock()
	if counts.conns != conns || counts.doneRuns != conns || counts.nilErrs != 0 || counts.repeats != 0 || counts.errRuns == 0 {
		t.Fatalf("%d handlers returned; error branch %d times, %d with nil, %d connections more than once; done %d times",
			counts.conns, counts.errRuns, counts.nilErrs, counts.repeats, counts.doneRuns)
	}
}

// TestHandOverRacesTheHandler: the hand-over (done and the error channel
// closed once the handler has taken done or returned) raced, 300 times, by
// handlers that take done or return at random moments around the end,
// across the hand-over's checks of done (20 us, doubling to 10 ms): a
// README loop, a handler that takes done late and then reads the error
// channel, one that returns without reading either. Each end is a TCP drop
// (a cause) or a normal close. None sees a nil error or a second value;
// the late taker finds the error channel closed well within DoneGrace;
// after a handler's return both channels are closed, done's value still in
// it when untaken; no goroutine is left.
func TestHandOverRacesTheHandler(t *testing.T) {
	checkLeaks(t)
	const runs, batch = 300, 20
	counts := &loopCounts{}
	readme := readmeHTTP(counts)
	var lateTakes, lateBad, untaken atomic.Int64
	bad := make(chan string, runs)
	returned := make(chan *wschan.Conn[*ChatMessage], runs)
	handler := func(c *wschan.Conn[*ChatMessage]) {
		shape := c.Request.URL.Query().Get("shape")
		delay, _ := time.ParseDuration(c.Request.URL.Query().Get("delay"))
		switch shape {
		case "readme":
			readme(c)
		case "late":
			time.Sleep(delay) // a random moment before, at or after the end
			<-c.Done
			start := time.Now()
			var values int
			for err := range c.Error {
				values++
				if err == nil {
					bad <- "the late taker read a nil error"
				}
			}
			if values > 1 {
				bad <- fmt.Sprintf("the late taker read %d errors", values)
			}
			if d := time.Since(start); d >= wschan.DoneGrace {
				lateBad.Add(1)
			}
			lateTakes.Add(1)
		case "return":
			time.Sleep(delay)
			untaken.Add(1)
			returned <- c
		}
	}
	url, _, finished := serveHTTP(t, func(c net.Conn) net.Conn { return c },
		wschan.Handler(handler, testOptions(&logBuffer{})))
	shapes := []string{"readme", "late", "return"}
	rng := rand.New(rand.NewPCG(1, 2))
	for b := 0; b < runs; b += batch {
		var wg sync.WaitGroup
		for i := b; i < b+batch; i++ {
			delay := time.Duration(rng.Int64N(int64(15 * time.Millisecond)))
			endAfter := time.Duration(rng.Int64N(int64(15 * time.Millisecond)))
			c := dialReadme(t, fmt.Sprintf("%s?shape=%s&delay=%s", url, shapes[i%3], delay))
			drop := i%2 == 0
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(endAfter) // a random moment
				if drop {
					_ = c.UnderlyingConn().Close()
				} else {
					_ = c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, ""), time.Now().Add(wait))
				}
			}()
		}
		wg.Wait()
		finished(batch)
	}
	close(bad)
	for msg := range bad {
		t.Error(msg)
	}
	if lateBad.Load() > 0 {
		t.Errorf("%d late takers waited DoneGrace for the error channel", lateBad.Load())
	}
	counts.mu.Lock()
	if counts.conns != runs/3 || counts.doneRuns != runs/3 || counts.nilErrs != 0 || counts.repeats != 0 {
		t.Errorf("README loops: %d handlers returned; error branch %d times, %d with nil, %d more than once; done %d times",
			counts.conns, counts.errRuns, counts.nilErrs, counts.repeats, counts.doneRuns)
	}
	counts.mu.Unlock()
	if lateTakes.Load() != runs/3 || untaken.Load() != runs/3 {
		t.Errorf("%d late takers and %d early returns, want %d each", lateTakes.Load(), untaken.Load(), runs/3)
	}
	close(returned)
	for c := range returned {
		// The handler returned without reading: done holds its value,
		// then is closed; the error channel holds the cause, if any, then
		// is closed. Nothing here may block.
		select {
		case v, ok := <-c.Done:
			if !v || !ok {
				t.Fatalf("done gave %v, %v, want its value true", v, ok)
			}
		default:
			t.Fatal("done is empty and open after the handler returned")
		}
		select {
		case _, ok := <-c.Done:
			if ok {
				t.Fatal("done gave a second value")
			}
		default:
			t.Fatal("done is open after the handler returned")
		}
		for n := 0; ; n++ {
			select {
			case err, ok := <-c.Error:
				if !ok {
					n = -1
				} else if err == nil || n > 0 {
					t.Fatalf("the error channel gave %v (value %d)", err, n+1)
				}
			default:
				t.Fatal("the error channel is open after the handler returned")
			}
			if n < 0 {
				break
			}
		}
	}
}
