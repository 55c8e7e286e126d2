package sockets_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	gorilla "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// protoEcho answers every message with the connection's subprotocol.
func protoEcho(c *wschan.Conn[string]) {
	for {
		select {
		case <-c.Receiver:
			c.Sender <- "speaking " + c.Connection.Subprotocol()
		case <-c.Done:
			return
		}
	}
}

// TestSubprotocols: the server's list in order of preference, matched
// without regard to case; a client that offers none still connects unless
// one is required; the choice is on the 101 and on the Connection. Both
// fronts, with the test kit's coder client and with gorilla's.
func TestSubprotocols(t *testing.T) {
	bothFronts(t, stringsMW, func(t *testing.T, f front[string]) {
		o := quietOptions()
		o.Subprotocols = []string{"chat.v2", "chat.v1"}
		s := sockettest.NewServer(t, f.serve(o, protoEcho))
		for _, c := range []struct {
			offered []string
			want    string
		}{
			{[]string{"chat.v1", "chat.v2"}, "chat.v2"}, // the server's preference wins
			{[]string{"other", "CHAT.V1"}, "CHAT.V1"},   // case-insensitive, the client's spelling
			{[]string{"other"}, ""},
			{nil, ""},
		} {
			cl := s.DialSubprotocols("/ws", c.offered...)
			if got := cl.Subprotocol(); got != c.want {
				t.Errorf("offered %q: selected %q, want %q", c.offered, got, c.want)
			}
			if got := cl.Response.Header.Values("Sec-WebSocket-Protocol"); strings.Join(got, ",") != c.want {
				t.Errorf("offered %q: the 101 says %q", c.offered, got)
			}
			cl.SendText("?")
			cl.ExpectText("speaking " + c.want)
		}

		// gorilla's client too.
		d := gorilla.Dialer{Subprotocols: []string{"chat.v1"}}
		g, resp, err := d.Dial(s.WebSocketURL("/ws"), http.Header{"Origin": {s.URL}})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		if g.Subprotocol() != "chat.v1" || resp.Header.Get("Sec-WebSocket-Protocol") != "chat.v1" {
			t.Fatalf("gorilla: selected %q", g.Subprotocol())
		}
		_ = g.WriteMessage(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, ""))
		_, _, _ = g.ReadMessage()
	})
}

// TestSubprotocolRequired: a client that offers none of the server's gets
// 400 with a reason naming both sides, and the handler is not called.
func TestSubprotocolRequired(t *testing.T) {
	bothFronts(t, stringsMW, func(t *testing.T, f front[string]) {
		o := quietOptions()
		o.Subprotocols, o.SubprotocolRequired = []string{"chat.v1"}, true
		called := make(chan struct{}, 1)
		s := sockettest.NewServer(t, f.serve(o, func(c *wschan.Conn[string]) {
			called <- struct{}{}
			protoEcho(c)
		}))
		h := upgradeHeader(s.URL)
		h.Set("Sec-WebSocket-Protocol", "mqtt")
		st, body := status(t, s, "GET", h)
		if st != 400 || body != `websocket: a subprotocol is required: the client offered ["mqtt"], the server speaks ["chat.v1"]` {
			t.Fatalf("%d %q", st, body)
		}
		if len(called) != 0 {
			t.Fatal("the handler ran")
		}
		c := s.DialSubprotocols("/ws", "chat.v1")
		c.SendText("?")
		c.ExpectText("speaking chat.v1")
	})
}

// TestChooseSubprotocol: the "token in Sec-WebSocket-Protocol" pattern of
// browser clients, which cannot send other headers: the chooser checks the
// token and selects the protocol name; a bad token gets 400.
func TestChooseSubprotocol(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	o := quietOptions()
	o.ChooseSubprotocol = func(r *http.Request, offered []string) (string, error) {
		if len(offered) != 2 || offered[0] != "bearer" {
			return "", nil
		}
		if offered[1] != "token-ok" {
			return "", errors.New("bad token")
		}
		return "bearer", nil
	}
	s := sockettest.NewServer(t, wschan.Handler(protoEcho, o))
	c := s.DialSubprotocols("/", "bearer", "token-ok")
	c.SendText("?")
	c.ExpectText("speaking bearer")
	h := upgradeHeader(s.URL)
	h.Set("Sec-WebSocket-Protocol", "bearer, token-forged")
	if st, body := status(t, s, "GET", h); st != 400 || body != "websocket: subprotocol rejected: bad token" {
		t.Fatalf("%d %q", st, body)
	}
}

// upgradeHeader returns the headers of a valid handshake from origin.
func upgradeHeader(origin string) http.Header {
	return http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Origin": {origin}}
}
