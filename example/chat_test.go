package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-macaron/sockets/hub"
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
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestRooms(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := log.New(io.Discard, "", 0)
	rooms := hub.New[*Message](hub.Options{Logger: quiet})
	defer rooms.Close()
	srv := httptest.NewServer(newApp(ctx, quiet, rooms))
	defer srv.Close()

	a1 := join(t, srv, "A", "ann")
	expect(t, a1, Message{Type: "join", From: "ann"})
	a2 := join(t, srv, "A", "bob")
	expect(t, a1, Message{Type: "join", From: "bob"})
	expect(t, a2, Message{Type: "join", From: "bob"})
	b1 := join(t, srv, "B", "cid")
	expect(t, b1, Message{Type: "join", From: "cid"})

	// The text travels as it is: the page shows it as text.
	html := `<b>hi</b> & <script>alert(1)</script>`
	if err := a1.WriteJSON(Message{Text: html}); err != nil {
		t.Fatal(err)
	}
	expect(t, a1, Message{Type: "message", From: "ann", Text: html})
	expect(t, a2, Message{Type: "message", From: "ann", Text: html})

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
