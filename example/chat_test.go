package main

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-macaron/sockets/hub"
	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

const wait = 5 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// join joins room as name on srv.
func join(t *testing.T, srv *httptest.Server, room, name string) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/sockets/rooms/" + room + "/" + name
	c, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// expect reads the next message and checks it.
func expect(t *testing.T, c *websocket.Conn, want Message) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var got Message
	if err := c.ReadJSON(&got); err != nil {
		t.Fatalf("waiting for %+v: %v", want, err)
	}
	same(t, got, want)
}

// expectKit is expect for the test kit's client.
func expectKit(t *testing.T, c *sockettest.Client, want Message) {
	t.Helper()
	m := c.Next()
	var got Message
	if err := json.Unmarshal(m.Data, &got); err != nil {
		t.Fatalf("waiting for %+v: got %v", want, m)
	}
	same(t, got, want)
}

// same compares a message with the one wanted, once its times are checked.
func same(t *testing.T, got, want Message) {
	t.Helper()
	// Messages, joins and leaves carry the server's time; the rest none.
	stamped := func(m *Message) {
		timed := m.Type == "message" || m.Type == "join" || m.Type == "leave"
		if at := time.UnixMilli(m.At); timed != (m.At != 0) || timed && time.Since(at).Abs() > time.Hour {
			t.Fatalf("%+v: the time %v is wrong for a %q", m, at, m.Type)
		}
		m.At = 0
		// With the hub's history, a broadcast carries its position.
		if m.ID != "" {
			if _, err := hub.ParsePosition(m.ID); err != nil {
				t.Fatalf("%+v: the id %q is not a position", m, m.ID)
			}
		}
		m.ID = ""
	}
	if got.Type == "history" && got.ID != "" {
		if _, err := hub.ParsePosition(got.ID); err != nil {
			t.Fatalf("%+v: the id %q is not a position", got, got.ID)
		}
		got.ID = ""
	}
	if got.Type != "servers" {
		stamped(&got)
	} else {
		got.ID = "" // a broadcast too, with a position when the hub keeps a history
	}
	got.At = 0
	for i := range got.History {
		stamped(&got.History[i])
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// fronts are the two fronts the example can run on.
var fronts = []string{"macaron", "net/http"}

// mustApp is newApp for tests.
func mustApp(t *testing.T, ctx context.Context, rooms *hub.Hub[*Message], front string) *app {
	t.Helper()
	a, err := newApp(ctx, log.New(io.Discard, "", 0), rooms, front)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRooms: the chat scenario with gorilla clients, on both fronts.
func TestRooms(t *testing.T) {
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) { testRooms(t, front) })
	}
}

func testRooms(t *testing.T, front string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rooms := hub.New[*Message](hub.Options{Logger: log.New(io.Discard, "", 0), History: historyKept})
	defer rooms.Close()
	srvApp := mustApp(t, ctx, rooms, front)
	srv := httptest.NewServer(srvApp)
	defer srv.Close()

	// A member that joins gets the room's members; the others hear of it.
	a1 := join(t, srv, "A", "ann")
	expect(t, a1, Message{Type: "members", Members: []string{"ann"}})
	a2 := join(t, srv, "A", "bob")
	expect(t, a1, Message{Type: "join", From: "bob"})
	expect(t, a2, Message{Type: "members", Members: []string{"ann", "bob"}})
	b1 := join(t, srv, "B", "cid")
	expect(t, b1, Message{Type: "members", Members: []string{"cid"}})

	// A name is taken once per room.
	dup := join(t, srv, "A", "ann")
	_ = dup.SetReadDeadline(time.Now().Add(wait))
	if _, _, err := dup.ReadMessage(); !websocket.IsCloseError(err, CloseNameTaken) {
		t.Fatalf("a second ann in room A: %v, want close %d", err, CloseNameTaken)
	}

	// The text travels as it is: the page shows it as text.
	html := `<b>hi</b> & <script>alert(1)</script>`
	if err := a1.WriteJSON(Message{Text: html}); err != nil {
		t.Fatal(err)
	}
	expect(t, a1, Message{Type: "message", From: "ann", Text: html})
	expect(t, a2, Message{Type: "message", From: "ann", Text: html})

	// A late joiner gets the room's last messages after its members.
	d1 := join(t, srv, "A", "dan")
	expect(t, d1, Message{Type: "members", Members: []string{"ann", "bob", "dan"}})
	expect(t, d1, Message{Type: "history", History: []Message{{Type: "message", From: "ann", Text: html}}})
	expect(t, a1, Message{Type: "join", From: "dan"})
	expect(t, a2, Message{Type: "join", From: "dan"})

	// The other servers unreachable: every member hears it, and so does a
	// member who joins meanwhile; then that they are back.
	srvApp.chat.setServersUp(false)
	srvApp.chat.setServersUp(false) // no change, no message
	for _, c := range []*websocket.Conn{a1, a2, d1, b1} {
		expect(t, c, Message{Type: "servers", Up: false})
	}
	e1 := join(t, srv, "B", "eve")
	expect(t, e1, Message{Type: "members", Members: []string{"cid", "eve"}})
	expect(t, e1, Message{Type: "servers", Up: false})
	expect(t, b1, Message{Type: "join", From: "eve"})
	srvApp.chat.setServersUp(true)
	for _, c := range []*websocket.Conn{a1, a2, d1, b1, e1} {
		expect(t, c, Message{Type: "servers", Up: true})
	}
	for _, c := range []*websocket.Conn{d1, e1} {
		if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "")); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, a1, Message{Type: "leave", From: "dan"})
	expect(t, a2, Message{Type: "leave", From: "dan"})
	expect(t, b1, Message{Type: "leave", From: "eve"})

	if err := a2.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "")); err != nil {
		t.Fatal(err)
	}
	expect(t, a1, Message{Type: "leave", From: "bob"})

	// Room B heard nothing of room A: its next message is its own.
	if err := b1.WriteJSON(Message{Text: "anyone?"}); err != nil {
		t.Fatal(err)
	}
	expect(t, b1, Message{Type: "message", From: "cid", Text: "anyone?"})

	// Shutting down closes every connection with 1001.
	cancel()
	for _, c := range []*websocket.Conn{a1, b1} {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		for {
			_, _, err := c.ReadMessage()
			if err != nil {
				if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
					t.Fatalf("after shutdown: %v, want close 1001", err)
				}
				break
			}
		}
	}
}

// TestServerTimeouts: the example's http.Server bounds slow handshakes. A
// client that trickles its headers a byte at a time is cut off once
// ReadHeaderTimeout has passed (shortened here), and its goroutine ends.
func TestServerTimeouts(t *testing.T) {
	srv := newServer("127.0.0.1:0", http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 ||
		srv.ReadTimeout != 0 || srv.WriteTimeout != 0 {
		t.Fatalf("server timeouts: header %v, idle %v, max header bytes %d, read %v, write %v",
			srv.ReadHeaderTimeout, srv.IdleTimeout, srv.MaxHeaderBytes, srv.ReadTimeout, srv.WriteTimeout)
	}
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	request := "GET /sockets/rooms/lobby/ann HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	for i := 0; i < len(request); i++ {
		if _, err := conn.Write([]byte{request[i]}); err != nil {
			break // the server has hung up: what we wait for
		}
		if time.Since(start) > wait {
			t.Fatal("the server still accepts header bytes after the test bound")
		}
		time.Sleep(20 * time.Millisecond) // the trickle itself, not a synchronisation
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("the server did not close the trickling connection: %v", err)
	}
}

// kitServer serves the example on front with the test kit, with rooms of
// its own.
func kitServer(t *testing.T, front string) *sockettest.Server {
	rooms := hub.New[*Message](hub.Options{Logger: log.New(io.Discard, "", 0), History: historyKept})
	t.Cleanup(rooms.Close)
	return sockettest.NewServer(t, mustApp(t, context.Background(), rooms, front))
}

// TestChatWithTestKit: the chat and echo scenarios with the test kit's
// coder/websocket client, on both fronts, and how each connection ended on
// the server.
func TestChatWithTestKit(t *testing.T) {
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) {
			s := kitServer(t, front)

			ann := s.Dial("/sockets/rooms/A/ann")
			expectKit(t, ann, Message{Type: "members", Members: []string{"ann"}})
			bob := s.Dial("/sockets/rooms/A/bob")
			expectKit(t, bob, Message{Type: "members", Members: []string{"ann", "bob"}})
			expectKit(t, ann, Message{Type: "join", From: "bob"})
			bob.SendJSON(Message{Text: "hi ann"})
			expectKit(t, ann, Message{Type: "message", From: "bob", Text: "hi ann"})
			expectKit(t, bob, Message{Type: "message", From: "bob", Text: "hi ann"})
			bob.Close(1000, "")
			expectKit(t, ann, Message{Type: "leave", From: "bob"})
			if r := bob.ServerRecord(); r.By != wschan.EndedByPeer || r.Code != 1000 {
				t.Errorf("bob's end: %+v", r)
			}

			again := s.Dial("/sockets/rooms/A/ann")
			again.ExpectClose(CloseNameTaken, "")
			if r := again.ServerRecord(); r.By != wschan.EndedByHandler || r.Code != CloseNameTaken {
				t.Errorf("the refused ann's end: %+v", r)
			}

			text := s.Dial("/echo/text")
			text.SendText("ünïcode")
			text.ExpectText("ünïcode")
			bin := s.Dial("/echo/bytes")
			bin.SendBinary([]byte{0, 0xff})
			bin.ExpectBinary([]byte{0, 0xff})
		})
	}
}
