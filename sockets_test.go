package sockets

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	coder "github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/go-macaron/sockets/wschan"

	gorilla "github.com/gorilla/websocket"
)

// echoUntilDone is a handler that echoes every value until done, then
// reports how the connection ended.
func echoUntilDone[T any](ends chan<- end) func(<-chan T, chan<- T, <-chan error, <-chan bool) {
	return func(in <-chan T, out chan<- T, errc <-chan error, done <-chan bool) {
		for {
			select {
			case m := <-in:
				out <- m
			case first := <-done:
				ends <- endAfter(first, done, errc)
				return
			}
		}
	}
}

func TestEchoMessagesAndPeerClose(t *testing.T) {
	checkLeaks(t)
	logs := &logBuffer{}
	ends := make(chan end, 1)
	ts := serve(t, Messages(testOptions(logs)), echoUntilDone[string](ends))
	c := ts.dial()
	if err := c.WriteMessage(gorilla.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	typ, p := readMessage(t, c)
	if typ != gorilla.TextMessage || string(p) != "hello" {
		t.Fatalf("got %d %q, want a text frame \"hello\"", typ, p)
	}
	if err := c.WriteMessage(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, "bye")); err != nil {
		t.Fatal(err)
	}
	code, _ := readClose(t, c)
	if code != 1000 {
		t.Fatalf("close code %d, want the peer's 1000 echoed", code)
	}
	e := recv(t, ends, "the end")
	if !e.clean() || e.err != nil {
		t.Fatalf("end %+v, want done once, both channels closed, no error", e)
	}
	ts.waitFinished()
	t.Log(logs.String())
}

func TestHandlerPanicClosesWith1011(t *testing.T) {
	checkLeaks(t)
	ts := serve(t, Messages(testOptions(&logBuffer{})), func(in <-chan string) {
		<-in
		panic("handler bug")
	})
	c := ts.dial()
	write(t, c, gorilla.TextMessage, []byte("trigger"))
	if code, _ := readClose(t, c); code != 1011 {
		t.Fatalf("close %d, want 1011", code)
	}
	ts.waitFinished()
	if !strings.Contains(ts.macaron.String(), "PANIC: handler bug") {
		t.Fatalf("Macaron's recovery did not see the panic:\n%s", ts.macaron)
	}
}

// A coder/websocket client sees the same behaviour as a gorilla one.
func TestCoderClient(t *testing.T) {
	checkLeaks(t)
	p := newProbe[*ChatMessage]()
	ts := serve(t, JSON(ChatMessage{}, testOptions(&logBuffer{})), p.handler)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := coder.Dial(ctx, ts.url, &coder.DialOptions{HTTPHeader: http.Header{"Origin": {"http://" + ts.host}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := wsjson.Write(ctx, c, ChatMessage{From: "coder", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if m := p.next(t); *m != (ChatMessage{From: "coder", Text: "hi"}) {
		t.Fatalf("received %+v", m)
	}
	p.send <- &ChatMessage{From: "server"}
	typ, b, err := c.Read(ctx)
	if err != nil || typ != coder.MessageText || string(b) != "{\"from\":\"server\",\"text\":\"\"}\n" {
		t.Fatalf("read %v %q %v", typ, b, err)
	}
	// A bad message: 1007, as the client library reports it.
	if err := c.Write(ctx, coder.MessageText, []byte("{")); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Read(ctx)
	if coder.CloseStatus(err) != coder.StatusInvalidFramePayloadData {
		t.Fatalf("read after bad JSON: %v, want close 1007", err)
	}
	if e := p.end(t); !e.clean() || e.err == nil {
		t.Fatalf("end %+v", e)
	}
}

func TestCoderClientClose(t *testing.T) {
	checkLeaks(t)
	for _, code := range []coder.StatusCode{coder.StatusNormalClosure, coder.StatusGoingAway, 4321} {
		p := newProbe[string]()
		ts := serve(t, Messages(testOptions(&logBuffer{})), p.handler)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		c, _, err := coder.Dial(ctx, ts.url, &coder.DialOptions{HTTPHeader: http.Header{"Origin": {"http://" + ts.host}}})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		// coder's Close waits for the echo: it returns nil only if the
		// server answered with the same code.
		if err := c.Close(code, "bye"); err != nil {
			t.Fatalf("close %d: %v", code, err)
		}
		cancel()
		if e := p.end(t); !e.clean() || (e.err != nil) != (code == 4321) {
			t.Fatalf("code %d: end %+v", code, e)
		}
	}
}

func TestServerShutdownContext(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := testOptions(&logBuffer{})
	o.Context = ctx
	p := newProbe[string]()
	ts := serve(t, Messages(o), p.handler)
	clients := []*gorilla.Conn{ts.dial(), ts.dial(), ts.dial()}
	p.send <- "before shutdown" // reaches one of them: proves they are up
	cancel()
	for _, c := range clients {
		if code, _ := readClose(t, c); code != 1001 {
			t.Fatalf("close %d, want 1001 (going away)", code)
		}
	}
	for range clients {
		if e := p.end(t); !e.clean() || !errors.Is(e.err, wschan.ErrServerShutdown) {
			t.Fatalf("end %+v", e)
		}
	}
}
