package sockettest_test

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
	"go.uber.org/goleak"
	"gopkg.in/macaron.v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo sends every message back until done.
func echo[T any](c *wschan.Conn[T]) {
	for {
		select {
		case m := <-c.Receiver:
			select {
			case c.Sender <- m:
			case <-c.Done:
				return
			}
		case <-c.Done:
			return
		}
	}
}

type note struct {
	From string `json:"from"`
	Text string `json:"text"`
}

// servers runs f against a server on a loopback listener and one on a pipe.
func servers(t *testing.T, h http.Handler, f func(t *testing.T, s *sockettest.Server)) {
	t.Run("tcp", func(t *testing.T) { f(t, sockettest.NewServer(t, h)) })
	t.Run("pipe", func(t *testing.T) { f(t, sockettest.NewPipeServer(t, h)) })
}

func TestEchoKinds(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /text", wschan.Handler(echo[string]))
	mux.Handle("GET /bytes", wschan.Handler(echo[[]byte]))
	mux.Handle("GET /json", wschan.Handler(echo[*note]))
	servers(t, mux, func(t *testing.T, s *sockettest.Server) {
		text := s.Dial("/text")
		text.SendText("héllo")
		text.ExpectText("héllo")
		text.SendBinary([]byte("as text")) // any frame in, text out
		text.ExpectText("as text")
		text.Ping()

		bin := s.Dial("/bytes")
		bin.SendBinary([]byte{0, 1, 0xff})
		bin.ExpectBinary([]byte{0, 1, 0xff})

		js := s.Dial("/json")
		js.SendJSON(note{From: "ann", Text: "<hi>"})
		js.ExpectJSON(note{From: "ann", Text: "<hi>"})
		js.SendText("{not json")
		js.ExpectClose(1007, `decode JSON into sockettest_test.note: json: expected '"' at the beginning of a string value: not json`)
		r := js.ServerRecord()
		if r.By != wschan.EndedByPeer || r.Code != 1007 || r.Cause == nil {
			t.Fatalf("record %+v, want the peer's bad JSON, 1007, with a cause", r)
		}
	})
}

func TestCloseRecords(t *testing.T) {
	h := wschan.Handler(func(c *wschan.Conn[string]) {
		for {
			select {
			case m := <-c.Receiver:
				if m == "bye" {
					c.Disconnect <- 4000
				}
			case <-c.Done:
				return
			}
		}
	})
	servers(t, h, func(t *testing.T, s *sockettest.Server) {
		byHandler := s.Dial("/")
		byHandler.SendText("bye")
		byHandler.ExpectClose(4000, "")
		if r := byHandler.ServerRecord(); r.By != wschan.EndedByHandler || r.Code != 4000 || r.Cause != nil {
			t.Errorf("handler's close: record %+v", r)
		}

		byPeer := s.Dial("/")
		byPeer.Close(1000, "done")
		if r := byPeer.ServerRecord(); r.By != wschan.EndedByPeer || r.Code != 1000 || r.Reason != "done" || r.Cause != nil {
			t.Errorf("peer's close: record %+v", r)
		}

		dropped := s.Dial("/")
		dropped.Drop()
		if r := dropped.ServerRecord(); r.By != wschan.EndedByNetwork || r.Code != 0 || r.Cause == nil {
			t.Errorf("dropped: record %+v", r)
		}
	})
}

// TestMacaronFront: the kit serves a Macaron app as well, and the
// connection's server side is at hand.
func TestMacaronFront(t *testing.T) {
	m := macaron.New()
	m.Get("/ws", sockets.Messages(), func(in <-chan string, out chan<- string, done <-chan bool, conn *sockets.Connection) {
		for {
			select {
			case msg := <-in:
				out <- msg + " from " + conn.RemoteAddr()
			case <-done:
				return
			}
		}
	})
	s := sockettest.NewServer(t, m)
	c := s.Dial("/ws")
	conn := s.NextConnection()
	c.SendText("hi")
	c.ExpectText("hi from " + conn.RemoteAddr())
	c.Close(1001, "")
	if r := c.ServerRecord(); r.By != wschan.EndedByPeer || r.Code != 1001 {
		t.Fatalf("record %+v", r)
	}
}

// TestRejections: a failed check before the upgrade gives the status and
// the reason to the dialer.
func TestRejections(t *testing.T) {
	s := sockettest.NewServer(t, wschan.Handler(echo[string]))
	if _, err := s.DialHeader("/", nil); err == nil || !strings.Contains(err.Error(), `403 "Origin not allowed"`) {
		t.Fatalf("dial without Origin: %v", err)
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Errorf(f string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(f, args...))
}
func (r *recorder) Fatalf(f string, args ...any) {
	r.Errorf(f, args...)
	panic(errFatal)
}

var errFatal = errors.New("fatal")

// TestFailureMessages: a failed expectation says what was expected and
// what came.
func TestFailureMessages(t *testing.T) {
	rec := &recorder{TB: t}
	s := sockettest.NewServer(rec, wschan.Handler(echo[string]))
	s.Timeout = 100 * time.Millisecond
	c := s.Dial("/")
	fatal := func(f func()) {
		defer func() {
			if r := recover(); r != nil && r != errFatal {
				panic(r)
			}
		}()
		f()
	}
	c.SendText("apple")
	fatal(func() { c.ExpectText("pear") })
	c.SendText("plum")
	fatal(func() { c.ExpectClose(1000, "") })
	want := []string{
		`sockettest: expected text "pear", got text "apple"`,
		`sockettest: expected close 1000 "", but the connection is still open after 100ms`,
	}
	if strings.Join(rec.failures, "\n") != strings.Join(want, "\n") {
		t.Fatalf("failure messages:\n%s\nwant:\n%s", strings.Join(rec.failures, "\n"), strings.Join(want, "\n"))
	}
}

// TestTimeoutNamesExpectation: an expectation that times out names what it
// waited for.
func TestTimeoutNamesExpectation(t *testing.T) {
	rec := &recorder{TB: t}
	s := sockettest.NewServer(rec, wschan.Handler(echo[string]))
	s.Timeout = 100 * time.Millisecond
	c := s.Dial("/")
	func() {
		defer func() {
			if r := recover(); r != nil && r != errFatal {
				panic(r)
			}
		}()
		c.ExpectText("pear")
	}()
	want := `sockettest: expected text "pear", but none came within 100ms`
	if strings.Join(rec.failures, "\n") != want {
		t.Fatalf("failure messages:\n%s\nwant:\n%s", strings.Join(rec.failures, "\n"), want)
	}
}

// TestCleanEnd: a test that passes ends its connections as a browser
// leaving the page does, with 1001 (going away), and waits for the
// handler: the handler's error channel carries nothing and nothing is
// logged as an error.
func TestCleanEnd(t *testing.T) {
	var logs strings.Builder
	var conn *sockets.Connection
	errs := make(chan error, 1)
	t.Run("passing", func(t *testing.T) {
		o := &sockets.Options{Logger: log.New(&logs, "[sockets] ", 0)}
		s := sockettest.NewServer(t, wschan.Handler(func(c *wschan.Conn[string]) {
			echo(c)
			errs <- <-c.Error
		}, o))
		c := s.Dial("/")
		conn = s.NextConnection()
		c.SendText("hello")
		c.ExpectText("hello")
	})
	if err := <-errs; err != nil {
		t.Fatalf("the handler's error channel carried %v", err)
	}
	r, ok := conn.CloseRecord()
	if !ok || r.By != wschan.EndedByPeer || r.Code != 1001 || !r.Clean {
		t.Fatalf("close record %+v (%v), want a clean 1001 from the peer", r, ok)
	}
	if strings.Contains(logs.String(), "[Error]") {
		t.Fatalf("a passing test logged an error:\n%s", logs.String())
	}
}

// TestHandlerNeverReturns: a handler that never returns (it keeps going
// after Done) fails the test, with its goroutine's stack, once the
// server's Timeout has passed, and the server's Close returns instead of
// waiting for ever.
func TestHandlerNeverReturns(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rec := &recorder{TB: t}
	s := sockettest.NewServer(rec, wschan.Handler(func(c *wschan.Conn[string]) {
		stubbornHandler(release)
	}))
	s.Timeout = 200 * time.Millisecond
	c := s.Dial("/")
	c.Close(1000, "")
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		s.Close()
	}()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Server.Close is still waiting for the handler a minute later")
	}
	got := strings.Join(rec.failures, "\n")
	if !strings.Contains(got, "their handlers have not returned") || !strings.Contains(got, "stubbornHandler") {
		t.Fatalf("failure messages:\n%s\nwant the unreturned handler reported with its stack", got)
	}
}

// stubbornHandler ignores its connection's end until released.
func stubbornHandler(release <-chan struct{}) { <-release }
