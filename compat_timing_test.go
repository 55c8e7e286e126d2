package sockets

import (
	"errors"
	"log"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"

	"github.com/go-macaron/sockets/wschan"
)

// pingLog records the pings a gorilla client receives, answering them unless
// mute is set.
type pingLog struct {
	mu    sync.Mutex
	times []time.Time
	got   chan struct{}
}

func watchPings(c *gorilla.Conn, mute bool) *pingLog {
	l := &pingLog{got: make(chan struct{}, 1000)}
	c.SetPingHandler(func(data string) error {
		l.mu.Lock()
		l.times = append(l.times, time.Now())
		l.mu.Unlock()
		l.got <- struct{}{}
		if mute {
			return nil
		}
		return c.WriteControl(gorilla.PongMessage, []byte(data), time.Now().Add(wait))
	})
	return l
}

func (l *pingLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.times)
}

// readUntilError reads messages in the background and reports the error
// that ends the read, with the time it came.
func readUntilError(c *gorilla.Conn, msgs chan<- []byte) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				errc <- err
				return
			}
			if msgs != nil {
				msgs <- p
			}
		}
	}()
	return errc
}

func rowOnePingPerPeriod(t *testing.T) {
	const period = 50 * time.Millisecond
	o := testOptions(&logBuffer{})
	o.PingPeriod = period
	for _, kind := range []string{"Messages", "ByteSliceMessages"} {
		t.Run(kind, func(t *testing.T) {
			mw := Messages(o)
			if kind == "ByteSliceMessages" {
				mw = ByteSliceMessages(o)
			}
			ts := serve(t, mw, holdUntilDone(nil))
			c := ts.dial()
			pings := watchPings(c, false)
			readUntilError(c, nil)
			for range 5 {
				recv(t, pings.got, "a ping")
			}
			pings.mu.Lock()
			span := pings.times[4].Sub(pings.times[0])
			pings.mu.Unlock()
			// Five pings at one per period span four periods; two per
			// period would fit in two.
			if span < 3*period {
				t.Fatalf("5 pings within %v: more than one ping per %v", span, period)
			}
		})
	}
}

// silentEnd connects a client that never answers pings and returns how the
// connection ended for the client and the handler, and how long it lasted.
func silentEnd(t *testing.T, o *Options, serverSends bool) (e end, lasted time.Duration, pings int, clientErr error) {
	t.Helper()
	p := newProbe[string]()
	ts := serve(t, Messages(o), p.handler)
	start := time.Now()
	c := ts.dial()
	pl := watchPings(c, true)
	msgs := make(chan []byte, 1000)
	errc := readUntilError(c, msgs)
	stop := make(chan struct{})
	defer close(stop)
	if serverSends {
		go func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					select {
					case p.send <- "keep-alive?":
					default:
					}
				}
			}
		}()
	}
	clientErr = recv(t, errc, "the end at the client")
	lasted = time.Since(start)
	return p.end(t), lasted, pl.count(), clientErr
}

func rowSilentPeer(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.PingPeriod, o.PongWait = 50*time.Millisecond, 300*time.Millisecond
	e, lasted, _, err := silentEnd(t, o, false)
	if !gorilla.IsCloseError(err, gorilla.CloseAbnormalClosure) {
		t.Fatalf("client saw %v, want the connection dropped without a close frame", err)
	}
	if !e.clean() || !errors.Is(e.err, wschan.ErrPongTimeout) {
		t.Fatalf("end %+v, want wschan.ErrPongTimeout before done", e)
	}
	if lasted < o.PongWait {
		t.Fatalf("dropped after %v, before PongWait %v", lasted, o.PongWait)
	}
}

func rowWritesDoNotKeepAlive(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.PingPeriod, o.PongWait = 50*time.Millisecond, 300*time.Millisecond
	e, _, _, err := silentEnd(t, o, true)
	if !gorilla.IsCloseError(err, gorilla.CloseAbnormalClosure) || !errors.Is(e.err, wschan.ErrPongTimeout) {
		t.Fatalf("client %v, end %+v: want a drop for silence despite the server's writes", err, e)
	}
}

func rowPingAfterPongWait(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.PingPeriod, o.PongWait = time.Second, 300*time.Millisecond
	e, _, pings, _ := silentEnd(t, o, false)
	if !errors.Is(e.err, wschan.ErrPongTimeout) || pings != 0 {
		t.Fatalf("end %+v after %d pings, want a drop before any ping", e, pings)
	}
}

// stillUp checks that a connection survives three PongWaits, while the
// client does what act says, then still carries a message from the server.
func stillUp(t *testing.T, answerPings bool, act func(c *gorilla.Conn)) {
	t.Helper()
	o := testOptions(&logBuffer{})
	o.PingPeriod, o.PongWait = 50*time.Millisecond, 200*time.Millisecond
	p := newProbe[string]()
	ts := serve(t, Messages(o), p.handler)
	c := ts.dial()
	watchPings(c, !answerPings)
	msgs := make(chan []byte, 100)
	errc := readUntilError(c, msgs)
	deadline := time.After(3 * o.PongWait)
	for running := true; running; {
		select {
		case <-deadline:
			running = false
		case err := <-errc:
			t.Fatalf("the connection ended: %v", err)
		case <-time.After(40 * time.Millisecond):
			act(c)
		}
	}
	p.send <- "still up"
	if m := recv(t, msgs, "the server's message"); string(m) != "still up" {
		t.Fatalf("got %q", m)
	}
	if e := len(p.ends); e != 0 {
		t.Fatal("the connection ended")
	}
}

func rowPongingPeerStays(t *testing.T) {
	stillUp(t, true, func(*gorilla.Conn) {})
}

func rowTalkingPeerStays(t *testing.T) {
	stillUp(t, false, func(c *gorilla.Conn) { write(t, c, gorilla.TextMessage, []byte("chatter")) })
}

func rowTimingDefaults(t *testing.T) {
	o := servedOptions(t)
	if o.PingPeriod != 48*time.Second || o.PongWait != 60*time.Second || o.WriteWait != 60*time.Second ||
		o.MaxMessageSize != 65536 || o.SendChannelBuffer != 10 || o.RecvChannelBuffer != 10 ||
		o.AllowedOrigin != "https?://{{host}}$" || o.LogLevel != LogLevelInfo || o.Logger.Prefix() != "[sockets] " {
		t.Fatalf("defaults %+v", o)
	}
}

func rowOptionMerging(t *testing.T) {
	first := &Options{PongWait: 7 * time.Second, LogLevel: LogLevelError}
	second := &Options{PongWait: 9 * time.Second, SendChannelBuffer: 3}
	o := servedOptions(t, first, second)
	if o.PongWait != 7*time.Second || o.SendChannelBuffer != 10 || o.LogLevel != LogLevelInfo || o.PingPeriod != 48*time.Second {
		t.Fatalf("merged %+v: want the first options only, zeros (LogLevelError included) as defaults", o)
	}
	if o == first {
		t.Fatal("options were not copied")
	}

	// Changing the options after construction has no effect.
	opts := testOptions(&logBuffer{})
	ts := serve(t, Messages(opts), holdUntilDone(nil))
	opts.AllowedOrigin = ".*"
	if s := upgradeStatus(ts, "", ""); s != http.StatusForbidden {
		t.Fatalf("status %d: a change after construction took effect", s)
	}
}

func rowNegativeOptions(t *testing.T) {
	for _, o := range []*Options{{SendChannelBuffer: -1}, {RecvChannelBuffer: -1}} {
		if msg := mustPanic(t, func() { Messages(o) }); !strings.Contains(msg, "negative channel buffer") {
			t.Fatalf("panic %q", msg)
		}
	}
	logs := &logBuffer{}
	o := testOptions(logs)
	o.LogLevel = -1
	ts := serve(t, Messages(o), holdUntilDone(nil))
	closeFrom(t, ts.dial(), 1000, "")
	ts.waitFinished()
	upgradeStatus(ts, "", "http://evil.example")
	if s := logs.String(); s != "" {
		t.Fatalf("LogLevel -1 logged:\n%s", s)
	}
}

func rowNilOptions(t *testing.T) {
	if msg := mustPanic(t, func() { Messages((*Options)(nil)) }); !strings.Contains(msg, "nil *Options") {
		t.Fatalf("panic %q", msg)
	}
}

// session runs one connection closed by the client with 1000 and returns
// the log lines, with the port masked as PORT.
func session(t *testing.T, o *Options, logs *logBuffer) []string {
	t.Helper()
	ts := serve(t, Messages(o), holdUntilDone(nil))
	c := ts.dial()
	closeFrom(t, c, 1000, "")
	readClose(t, c)
	ts.waitFinished()
	port := regexp.MustCompile(`127\.0\.0\.1:\d+`)
	var lines []string
	for _, l := range logs.lines() {
		lines = append(lines, port.ReplaceAllString(l, "ADDR"))
	}
	return lines
}

func rowLogFormat(t *testing.T) {
	logs := &logBuffer{}
	o := &Options{Logger: log.New(logs, "[sockets] ", 0), LogLevel: LogLevelInfo}
	want := []string{
		"[sockets] [Info] [ADDR] Connection established",
		"[sockets] [Info] [ADDR] Connection closed by the peer with code 1000",
		"[sockets] [Info] [ADDR] Connection closed",
	}
	if got := session(t, o, logs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Info session logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, quiet := range []*Options{{LogLevel: LogLevelWarning}, {SkipLogging: true, LogLevel: LogLevelDebug}} {
		logs := &logBuffer{}
		quiet.Logger = log.New(logs, "[sockets] ", 0)
		if got := session(t, quiet, logs); len(got) != 0 {
			t.Fatalf("%+v logged a normal session:\n%s", quiet, strings.Join(got, "\n"))
		}
	}
	logs = &logBuffer{}
	o = testOptions(logs) // Debug
	for _, l := range session(t, o, logs) {
		if strings.Contains(l, "%!") {
			t.Fatalf("malformed line %q", l)
		}
	}
}

func rowWriteStall(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.WriteWait = 300 * time.Millisecond
	ends := make(chan end, 1)
	ts := serve(t, Messages(o), func(out chan<- string, errc <-chan error, done <-chan bool) {
		big := strings.Repeat("x", 64<<10)
		for {
			select {
			case out <- big:
			case first := <-done:
				ends <- endAfter(first, done, errc)
				return
			}
		}
	})
	c := ts.dial() // and never read
	e := recv(t, ends, "the end of a stalled connection")
	if !e.clean() || e.err == nil || !strings.Contains(e.err.Error(), "write") {
		t.Fatalf("end %+v, want the write error before done", e)
	}
	_ = c.Close()
}

// servedOptions returns the options a connection served by Messages(opts...)
// sees, as the handler gets them on its *Connection.
func servedOptions(t *testing.T, opts ...*Options) *Options {
	t.Helper()
	got := make(chan *Options, 1)
	ts := serve(t, Messages(opts...), func(c *Connection, done <-chan bool) {
		got <- c.Options
		<-done
	})
	ws := ts.dial()
	o := recv(t, got, "the connection's options")
	closeFrom(t, ws, 1000, "")
	return o
}
