package park

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-macaron/sockets/internal/wstest"
)

// The Gate answers ErrPark from below the transport and
// expects the transport to come back for more. These tests pin the two
// behaviours of coder/websocket that this relies on, each by name, so that
// an upgrade that changes one fails here rather than in a parked
// connection: parking can then be turned off (wschan.Options.ParkAfter < 0).

var errInjected = errors.New("injected read error")

// failingConn fails its next Read, once, while fail is set.
type failingConn struct {
	net.Conn
	fail atomic.Bool
}

func (c *failingConn) Read(p []byte) (int, error) {
	if c.fail.CompareAndSwap(true, false) {
		return 0, errInjected
	}
	return c.Conn.Read(p)
}

// hijacker hands the transport a failingConn.
type hijacker struct {
	http.ResponseWriter
	conn *failingConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	raw, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &failingConn{Conn: raw}
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), brw.Writer), nil
}

// transportAfterReadError accepts a connection, fails the transport's
// next read from below, and reports what Reader returned, then what the
// next Reader call returned once the client had sent "hello".
func transportAfterReadError(t *testing.T) (first error, typ websocket.MessageType, msg string, second error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		first, second error
		typ           websocket.MessageType
		msg           string
	}
	results := make(chan result, 1)
	send := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := &hijacker{ResponseWriter: w}
		ws, err := websocket.Accept(h, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			results <- result{first: err}
			return
		}
		defer ws.CloseNow()
		var res result
		h.conn.fail.Store(true)
		_, _, res.first = ws.Reader(ctx)
		close(send)
		var rd io.Reader
		res.typ, rd, res.second = ws.Reader(ctx)
		if res.second == nil {
			b, err := io.ReadAll(rd)
			res.msg, res.second = string(b), err
		}
		results <- res
		ws.Close(websocket.StatusNormalClosure, "")
	}))
	defer srv.Close()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	select {
	case <-send:
		if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the server never read")
	}
	r := <-results
	_, _, _ = c.Read(ctx) // the server's close
	return r.first, r.typ, r.msg, r.second
}

// TestTransportReturnsReadErrorWithoutClosing: an error from the connection
// below, met while Reader waits for a frame header, comes back from Reader
// (wrapped, errors.Is finds it) and leaves the connection open.
func TestTransportReturnsReadErrorWithoutClosing(t *testing.T) {
	first, _, _, second := transportAfterReadError(t)
	if !errors.Is(first, errInjected) {
		t.Fatalf("Reader returned %v, want the error from below", first)
	}
	if errors.Is(second, net.ErrClosed) {
		t.Fatalf("the transport closed the connection after a read error: %v", second)
	}
}

// TestTransportForgetsReadError: once Reader has returned the error from
// below, its buffered reader does not keep it: the next Reader call reads
// the next message.
func TestTransportForgetsReadError(t *testing.T) {
	_, typ, msg, second := transportAfterReadError(t)
	if second != nil || typ != websocket.MessageText || msg != "hello" {
		t.Fatalf("after the error, Reader gave %v %q, %v; want the text message hello", typ, msg, second)
	}
}

// TestGateOnlyWhereReadsPark: a gate over a TCP socket is enabled exactly
// where read loops can park (Linux), and never with parking off; the
// connection reads around a gate that is not enabled.
func TestGateOnlyWhereReadsPark(t *testing.T) {
	_, server := wstest.TCPPair(t)

	var on, off Gate
	if got := on.Init(server, time.Millisecond); got != CanParkReads || on.Enabled() != CanParkReads {
		t.Fatalf("Init over TCP = %v, enabled %v; want %v where CanParkReads is %v", got, on.Enabled(), CanParkReads, CanParkReads)
	}
	if off.Init(server, 0) || off.Enabled() {
		t.Fatal("a gate with parking off is enabled")
	}
}
