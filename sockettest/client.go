package sockettest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-macaron/sockets/wschan"
)

// Message is one message a Client received.
type Message struct {
	Type websocket.MessageType
	Data []byte
}

// String shows the message in failure reports, cut short.
func (m Message) String() string {
	kind := "text"
	if m.Type == websocket.MessageBinary {
		kind = "binary"
	}
	if d := m.Data; len(d) > 64 {
		return fmt.Sprintf("%s %q... (%d bytes)", kind, d[:64], len(d))
	}
	return fmt.Sprintf("%s %q", kind, m.Data)
}

// Client is a WebSocket client of a Server (coder/websocket underneath). It
// reads in the background, so the server never waits for the test, and
// keeps what it read for the Expect methods. When the test ends it closes
// with 1001 (going away), as a browser leaving the page does.
type Client struct {
	// Response is the server's answer to the handshake (101).
	Response *http.Response

	t    testing.TB
	srv  *Server
	ws   *websocket.Conn
	conn net.Conn // the client's end of the socket or pipe

	msgs chan Message
	quit chan struct{} // closed at cleanup: the reader stops waiting
	done chan struct{} // closed when the reader has returned
	err  error         // why the reader returned, once done is closed
}

// Dial connects to path on the server with the server's own Origin, as a
// browser on the page would, and fails the test if the handshake fails.
func (s *Server) Dial(path string) *Client {
	s.t.Helper()
	c, err := s.DialHeader(path, http.Header{"Origin": {s.URL}})
	if err != nil {
		s.t.Fatalf("sockettest: dial %s: %v", path, err)
	}
	return c
}

// DialSubprotocols is Dial offering subprotocols, in order of preference;
// Client.Subprotocol tells which one the server selected.
func (s *Server) DialSubprotocols(path string, subprotocols ...string) *Client {
	s.t.Helper()
	c, err := s.dial(path, http.Header{"Origin": {s.URL}}, subprotocols)
	if err != nil {
		s.t.Fatalf("sockettest: dial %s offering %q: %v", path, subprotocols, err)
	}
	return c
}

// DialHeader connects to path with the given request headers (no Origin
// unless header has one). A failed handshake returns the error, with the
// server's response in it when there was one.
func (s *Server) DialHeader(path string, header http.Header) (*Client, error) {
	return s.dial(path, header, nil)
}

func (s *Server) dial(path string, header http.Header, subprotocols []string) (*Client, error) {
	c := &Client{t: s.t, srv: s, msgs: make(chan Message, 1024), quit: make(chan struct{}), done: make(chan struct{})}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := s.dialConn(ctx, network, addr)
		c.conn = conn
		return conn, err
	}}
	defer transport.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.Timeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, s.WebSocketURL(path), &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: transport},
		HTTPHeader:   header,
		Subprotocols: subprotocols,
	})
	if err != nil {
		if resp != nil {
			body := new(bytes.Buffer)
			_, _ = body.ReadFrom(resp.Body)
			_ = resp.Body.Close()
			return nil, fmt.Errorf("%w (the server answered %d %q)", err, resp.StatusCode, body.String())
		}
		return nil, err
	}
	ws.SetReadLimit(-1)
	c.ws, c.Response = ws, resp
	go c.read()
	s.t.Cleanup(c.cleanup)
	return c, nil
}

// read keeps every message until the connection ends.
func (c *Client) read() {
	defer close(c.done)
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		select {
		case c.msgs <- Message{Type: typ, Data: data}:
		case <-c.quit:
			return
		}
	}
}

// cleanup closes with 1001 and awaits the server's answer (bounded by the
// transport), so that the handler sees a normal end, no error.
func (c *Client) cleanup() {
	close(c.quit)
	if err := c.ws.Close(websocket.StatusGoingAway, ""); err != nil {
		_ = c.ws.CloseNow()
	}
	<-c.done
}

// Subprotocol returns the subprotocol the server selected, "" for none.
func (c *Client) Subprotocol() string { return c.ws.Subprotocol() }

// SendText sends one text message.
func (c *Client) SendText(s string) { c.t.Helper(); c.send(websocket.MessageText, []byte(s)) }

// SendBinary sends one binary message.
func (c *Client) SendBinary(p []byte) { c.t.Helper(); c.send(websocket.MessageBinary, p) }

// SendJSON sends v as one text message of JSON.
func (c *Client) SendJSON(v any) {
	c.t.Helper()
	p, err := json.Marshal(v)
	if err != nil {
		c.t.Fatalf("sockettest: encode %T: %v", v, err)
	}
	c.send(websocket.MessageText, p)
}

func (c *Client) send(typ websocket.MessageType, p []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.Timeout)
	defer cancel()
	if err := c.ws.Write(ctx, typ, p); err != nil {
		c.t.Fatalf("sockettest: send a %v message: %v", typ, err)
	}
}

// Next returns the next message from the server, waiting at most the server's Timeout; the
// test fails if the connection ends first.
func (c *Client) Next() Message {
	c.t.Helper()
	return c.next("a message")
}

// next is Next, naming what was expected when it fails.
func (c *Client) next(want string) Message {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-c.done:
		select {
		case m := <-c.msgs: // read just before the end
			return m
		default:
		}
		c.t.Fatalf("sockettest: expected %s, but the connection ended: %v", want, c.err)
	case <-time.After(c.srv.Timeout):
		c.t.Fatalf("sockettest: expected %s, but none came within %v", want, c.srv.Timeout)
	}
	return Message{}
}

// ExpectText waits for the next message and checks that it is a text
// message holding want.
func (c *Client) ExpectText(want string) {
	c.t.Helper()
	if m := c.next(fmt.Sprintf("text %q", want)); m.Type != websocket.MessageText || string(m.Data) != want {
		c.t.Fatalf("sockettest: expected text %q, got %v", want, m)
	}
}

// ExpectBinary waits for the next message and checks that it is a binary
// message holding want.
func (c *Client) ExpectBinary(want []byte) {
	c.t.Helper()
	if m := c.next(fmt.Sprintf("binary %q", want)); m.Type != websocket.MessageBinary || !bytes.Equal(m.Data, want) {
		c.t.Fatalf("sockettest: expected binary %q, got %v", want, m)
	}
}

// ExpectJSON waits for the next message, decodes it into a new value of
// want's type and checks that it equals want (reflect.DeepEqual; for a
// pointer, the values pointed to).
func (c *Client) ExpectJSON(want any) {
	c.t.Helper()
	m := c.next(fmt.Sprintf("JSON %+v", want))
	got := reflect.New(reflect.TypeOf(want))
	if err := json.Unmarshal(m.Data, got.Interface()); err != nil {
		c.t.Fatalf("sockettest: expected JSON of %T, got %v: %v", want, m, err)
	}
	if !reflect.DeepEqual(got.Elem().Interface(), want) {
		c.t.Fatalf("sockettest: expected JSON %+v, got %v", want, m)
	}
}

// ExpectClose waits for the server to close the connection and checks the
// close frame's code and reason. Messages still unread are skipped.
func (c *Client) ExpectClose(code int, reason string) {
	c.t.Helper()
	ce, closed := c.ended(fmt.Sprintf("close %d %q", code, reason))
	if !closed {
		c.t.Fatalf("sockettest: expected close %d %q, but the connection ended without a close frame: %v", code, reason, c.err)
	}
	if int(ce.Code) != code || ce.Reason != reason {
		c.t.Fatalf("sockettest: expected close %d %q, got close %d %q", code, reason, int(ce.Code), ce.Reason)
	}
}

// ExpectDropped waits for the connection to end without a close frame.
func (c *Client) ExpectDropped() {
	c.t.Helper()
	if ce, closed := c.ended("the connection to be dropped"); closed {
		c.t.Fatalf("sockettest: expected the connection to be dropped, got close %d %q", int(ce.Code), ce.Reason)
	}
}

// ended waits for the connection to end, failing the test (which expected
// want) if it does not within the server's Timeout, and returns the close
// frame that ended it, if one did.
func (c *Client) ended(want string) (ce websocket.CloseError, closed bool) {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(c.srv.Timeout):
		c.t.Fatalf("sockettest: expected %s, but the connection is still open after %v", want, c.srv.Timeout)
	}
	return ce, errors.As(c.err, &ce)
}

// Close closes the connection from the client's side with code and
// reason, and waits for the server's answer (the closing handshake).
func (c *Client) Close(code int, reason string) {
	c.t.Helper()
	if err := c.ws.Close(websocket.StatusCode(code), reason); err != nil {
		c.t.Fatalf("sockettest: close %d %q: %v", code, reason, err)
	}
	<-c.done
}

// Ping sends a ping and waits for the pong.
func (c *Client) Ping() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.Timeout)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		c.t.Fatalf("sockettest: ping: %v", err)
	}
}

// Drop closes the TCP connection (or pipe) without a close frame, as a
// client that crashes or loses its network does.
func (c *Client) Drop() {
	_ = c.conn.Close()
	<-c.done
}

// ServerRecord waits until the server's side of this connection has ended
// and returns its close record: who ended it, the code and reason, and the
// cause the handler's error channel carried.
func (c *Client) ServerRecord() wschan.CloseRecord {
	c.t.Helper()
	r, err := c.srv.record(c.conn.LocalAddr().String())
	if err != nil {
		c.t.Fatalf("sockettest: %v", err)
	}
	return r
}
