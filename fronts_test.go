package sockets_test

import (
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gopkg.in/macaron.v1"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// The scenarios of the compatibility table that are not Macaron's own, run
// through both fronts with the test kit: each front serves one handler
// function of a *wschan.Conn (the Macaron front through an adapter that
// takes the injected channels), over a loopback socket.

// front builds an http.Handler that serves h at /ws.
type front[T any] struct {
	name  string
	serve func(o *sockets.Options, h func(*wschan.Conn[T])) http.Handler
}

func netHTTPFront[T any]() front[T] {
	return front[T]{"net/http", func(o *sockets.Options, h func(*wschan.Conn[T])) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/ws", wschan.Handler(h, o))
		return mux
	}}
}

func macaronFront[T any](mw func(*sockets.Options) macaron.Handler) front[T] {
	return front[T]{"macaron", func(o *sockets.Options, h func(*wschan.Conn[T])) http.Handler {
		m := macaron.New()
		m.Map(log.New(io.Discard, "", 0))
		m.Use(macaron.Recovery())
		m.Any("/ws", mw(o), func(ctx *macaron.Context, in <-chan T, out chan<- T, errc <-chan error,
			disc chan<- int, done <-chan bool, conn *sockets.Connection) {
			h(&wschan.Conn[T]{Receiver: in, Sender: out, Error: errc, Disconnect: disc, Done: done,
				Connection: conn, Request: ctx.Req.Request})
		})
		return m
	}}
}

// bothFronts runs scenario through the Macaron front and the net/http front.
func bothFronts[T any](t *testing.T, mw func(*sockets.Options) macaron.Handler, scenario func(t *testing.T, f front[T])) {
	for _, f := range []front[T]{macaronFront[T](mw), netHTTPFront[T]()} {
		t.Run(f.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			scenario(t, f)
		})
	}
}

func stringsMW(o *sockets.Options) macaron.Handler { return sockets.Messages(o) }
func bytesMW(o *sockets.Options) macaron.Handler   { return sockets.ByteSliceMessages(o) }
func notesMW(o *sockets.Options) macaron.Handler   { return sockets.JSON(note{}, o) }

type note struct {
	From string `json:"from"`
	Text string `json:"text"`
}

func quietOptions() *sockets.Options {
	park, _ := time.ParseDuration(os.Getenv("SOCKETS_PARK_AFTER")) // see TestMain
	return &sockets.Options{Logger: log.New(io.Discard, "", 0), PingPeriod: time.Second, PongWait: 2 * time.Second,
		WriteWait: time.Second, ParkAfter: park}
}

// echoConn sends every message back until done.
func echoConn[T any](c *wschan.Conn[T]) {
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

// status sends one request to the server's /ws and returns the status and
// body.
func status(t *testing.T, s *sockettest.Server, method string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestFrontsRejections (compat 1.1, 1.3-1.5, 2.1, 2.3): the same answers
// before the upgrade, and no handler call.
func TestFrontsRejections(t *testing.T) {
	bothFronts(t, stringsMW, func(t *testing.T, f front[string]) {
		called := make(chan struct{}, 10)
		s := sockettest.NewServer(t, f.serve(quietOptions(), func(*wschan.Conn[string]) { called <- struct{}{} }))
		valid := func(origin string) http.Header {
			h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
				"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
			if origin != "" {
				h.Set("Origin", origin)
			}
			return h
		}
		noUpgrade, badVersion, badKey := valid(s.URL), valid(s.URL), valid(s.URL)
		noUpgrade.Del("Upgrade")
		badVersion.Set("Sec-Websocket-Version", "8")
		badKey.Set("Sec-Websocket-Key", "abc")
		for _, c := range []struct {
			name   string
			method string
			header http.Header
			status int
			body   string
		}{
			{"POST", "POST", valid(s.URL), 405, "Method not allowed"},
			{"no Origin", "GET", valid(""), 403, "Origin not allowed"},
			{"foreign Origin", "GET", valid("http://evil.example"), 403, "Origin not allowed"},
			{"no Upgrade", "GET", noUpgrade, 400, "websocket: the client is not using the websocket protocol: 'websocket' token not found in 'Upgrade' header"},
			{"version 8", "GET", badVersion, 400, "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header"},
			{"bad key", "GET", badKey, 400, "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length"},
		} {
			if st, body := status(t, s, c.method, c.header); st != c.status || body != c.body {
				t.Errorf("%s: %d %q, want %d %q", c.name, st, body, c.status, c.body)
			}
		}
		if len(called) != 0 {
			t.Fatal("the handler ran for a rejected request")
		}
	})
}

// TestFrontsEcho (compat 4.1-4.4, T.1): the three kinds, their frames, and
// a normal close from each side, with the server's close record.
func TestFrontsEcho(t *testing.T) {
	bothFronts(t, stringsMW, func(t *testing.T, f front[string]) {
		c := sockettest.NewServer(t, f.serve(quietOptions(), echoConn[string])).Dial("/ws")
		c.SendText("héllo")
		c.ExpectText("héllo")
		c.SendBinary([]byte("binary in"))
		c.ExpectText("binary in")
		c.SendText("\xff") // compat 4.1: a text frame must be UTF-8
		c.ExpectClose(1007, "invalid UTF-8 in a text message")
		if r := c.ServerRecord(); r.By != wschan.EndedByPeer || !errors.Is(r.Cause, wschan.ErrInvalidUTF8) {
			t.Fatalf("record %+v", r)
		}
	})
	bothFronts(t, bytesMW, func(t *testing.T, f front[[]byte]) {
		c := sockettest.NewServer(t, f.serve(quietOptions(), echoConn[[]byte])).Dial("/ws")
		c.SendBinary([]byte{0, 0xff})
		c.ExpectBinary([]byte{0, 0xff})
		c.SendText("text in")
		c.ExpectBinary([]byte("text in"))
		c.Close(1000, "")
		if r := c.ServerRecord(); r.By != wschan.EndedByPeer || r.Code != 1000 || r.Cause != nil {
			t.Fatalf("record %+v", r)
		}
	})
	bothFronts(t, notesMW, func(t *testing.T, f front[*note]) {
		c := sockettest.NewServer(t, f.serve(quietOptions(), echoConn[*note])).Dial("/ws")
		c.SendJSON(note{From: "ann", Text: "<&>"})
		m := c.Next()
		if string(m.Data) != `{"from":"ann","text":"\u003c\u0026\u003e"}`+"\n" {
			t.Fatalf("JSON frame %v: want Encoder output with HTML escaping and the newline", m)
		}
		c.SendText(`{"text":`) // compat 5.2
		c.ExpectClose(1007, "decode JSON into sockets_test.note: json: unexpected end of JSON input: ")
		if r := c.ServerRecord(); r.Cause == nil || r.Code != 1007 {
			t.Fatalf("record %+v", r)
		}
	})
}

// TestFrontsEndings (compat 6.2, 7.1, 7.5, 8.1, 9.2, 9.3, 3.6): how the
// connection ends, the same through both fronts.
func TestFrontsEndings(t *testing.T) {
	bothFronts(t, stringsMW, func(t *testing.T, f front[string]) {
		o := quietOptions()
		o.MaxMessageSize = 16
		kept := make(chan int, 10)
		s := sockettest.NewServer(t, f.serve(o, func(c *wschan.Conn[string]) {
			for {
				select {
				case m := <-c.Receiver:
					switch m {
					case "queue then 4000": // compat 7.5: queued values go out first
						for i := range 5 {
							c.Sender <- strings.Repeat("q", i)
						}
						c.Disconnect <- 4000
					case "close sender": // compat 8.1
						c.Sender <- "last"
						close(c.Sender)
					case "panic": // compat 3.6
						panic("handler bug")
					case "hold":
						c.Sender <- "holding"
						<-c.Done // compat 9.3: what is left stays readable
						kept <- len(c.Receiver)
						return
					}
				case <-c.Done:
					return
				}
			}
		}))
		c := s.Dial("/ws")
		c.SendText("queue then 4000")
		for i := range 5 {
			c.ExpectText(strings.Repeat("q", i))
		}
		c.ExpectClose(4000, "")
		if r := c.ServerRecord(); r.By != wschan.EndedByHandler || r.Code != 4000 {
			t.Errorf("disconnect: record %+v", r)
		}

		c = s.Dial("/ws")
		c.SendText("close sender")
		c.ExpectText("last")
		c.ExpectClose(1000, "")

		c = s.Dial("/ws")
		c.SendText(strings.Repeat("x", 17)) // compat 6.2
		c.ExpectClose(1009, "read limited at 17 bytes")
		if r := c.ServerRecord(); r.By != wschan.EndedByPeer || r.Cause == nil {
			t.Errorf("oversized: record %+v", r)
		}

		c = s.Dial("/ws")
		c.SendText("hold")
		c.ExpectText("holding") // the handler took "hold": Done is what it waits for now
		c.SendText("one")
		c.SendText("two")
		c.Drop() // compat 9.2
		if r := c.ServerRecord(); r.By != wschan.EndedByNetwork || r.Cause == nil {
			t.Errorf("dropped: record %+v", r)
		}
		select {
		case n := <-kept:
			if n != 2 {
				t.Errorf("%d messages left in the receiver after done, want 2", n)
			}
		case <-time.After(time.Minute):
			t.Fatal("the holding handler never saw done")
		}

		if f.name == "net/http" {
			// A panic goes on to net/http, which logs it; Macaron's
			// recovery answers it on the other front.
			return
		}
		c = s.Dial("/ws")
		c.SendText("panic")
		c.ExpectClose(1011, "")
	})
}

// TestNetHTTPPanic (compat 3.6) for the net/http front: the socket closes
// with 1011 and the panic goes on to net/http's own recovery.
func TestNetHTTPPanic(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	h := wschan.Handler(func(c *wschan.Conn[string]) {
		<-c.Receiver
		panic("handler bug")
	}, quietOptions())
	s := sockettest.NewServer(t, h)
	c := s.Dial("/")
	c.SendText("x")
	c.ExpectClose(1011, "")
	if r := c.ServerRecord(); r.By != wschan.EndedByServer || r.Code != 1011 {
		t.Fatalf("record %+v", r)
	}
}
