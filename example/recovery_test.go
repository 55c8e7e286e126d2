package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/go-macaron/sockets/hub"
)

// rejoin connects name to room again, resuming from position from.
func rejoin(t *testing.T, srv *httptest.Server, room, name, from string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/sockets/rooms/" + room + "/" + name + "?from=" + url.QueryEscape(from)
	c, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// read returns the next message as it came, its id included.
func read(t *testing.T, c *websocket.Conn) Message {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var m Message
	if err := c.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestChatResumes: a page whose connection drops and that reconnects from
// the id of the last message it saw gets them, once each, in order, is
// told how many that was, then gets the live ones; one whose position the
// hub cannot resume from (garbage here, a restarted server in life) gets
// the room's last messages marked to replace what it shows. Both fronts.
func TestChatResumes(t *testing.T) {
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rooms := hub.New[*Message](hub.Options{Logger: log.New(io.Discard, "", 0), History: historyKept})
			defer rooms.Close()
			srv := httptest.NewServer(mustApp(t, ctx, rooms, front))
			defer srv.Close()

			ann := join(t, srv, "A", "ann")
			expect(t, ann, Message{Type: "members", Members: []string{"ann"}})
			bob := join(t, srv, "A", "bob")
			expect(t, bob, Message{Type: "members", Members: []string{"ann", "bob"}})
			last := read(t, ann) // bob's join
			if last.Type != "join" || last.ID == "" {
				t.Fatalf("ann got %+v, want bob's join with an id", last)
			}
			_ = ann.UnderlyingConn().Close() // ann's network goes
			expect(t, bob, Message{Type: "leave", From: "ann"})
			for _, text := range []string{"one", "two", "three"} {
				if err := bob.WriteJSON(Message{Text: text}); err != nil {
					t.Fatal(err)
				}
				expect(t, bob, Message{Type: "message", From: "bob", Text: text})
			}

			ann = rejoin(t, srv, "A", "ann", last.ID)
			expect(t, ann, Message{Type: "members", Members: []string{"ann", "bob"}})
			expect(t, ann, Message{Type: "leave", From: "ann"})
			for _, text := range []string{"one", "two", "three"} {
				expect(t, ann, Message{Type: "message", From: "bob", Text: text})
			}
			if m := read(t, ann); m.Type != "recovered" || m.Missed != 4 {
				t.Fatalf("ann got %+v, want told of the 4 messages she missed", m)
			}
			expect(t, bob, Message{Type: "join", From: "ann"})
			if err := bob.WriteJSON(Message{Text: "welcome back"}); err != nil {
				t.Fatal(err)
			}
			expect(t, ann, Message{Type: "message", From: "bob", Text: "welcome back"})

			// A position the hub cannot resume from: the last messages,
			// to replace what the page shows.
			_ = ann.UnderlyingConn().Close()
			expect(t, bob, Message{Type: "message", From: "bob", Text: "welcome back"})
			expect(t, bob, Message{Type: "leave", From: "ann"})
			ann = rejoin(t, srv, "A", "ann", "not-a-position")
			expect(t, ann, Message{Type: "members", Members: []string{"ann", "bob"}})
			h := read(t, ann)
			if h.Type != "history" || !h.Reload || len(h.History) != 4 || h.History[3].Text != "welcome back" {
				t.Fatalf("ann got %+v, want the room's 4 messages to reload", h)
			}
			expect(t, bob, Message{Type: "join", From: "ann"})
		})
	}
}

// TestStalledResumeHoldsNoOne: a page resumes from a position the hub
// covers, with more to replay than the network takes while the page does
// not read; another page joining meanwhile is not held up by it: the
// replay goes through the member's backlog, and what the handler sends
// after it (the count of missed messages) waits outside the chat's lock.
// (Sending the count under the lock, as this example did, held the lock
// only if the socket had filled before the handler sent it, which this
// test does not force; what it catches is any send under the lock that
// waits for the replay to drain.) Both fronts.
func TestStalledResumeHoldsNoOne(t *testing.T) {
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rooms := hub.New[*Message](hub.Options{Logger: log.New(io.Discard, "", 0), History: 500, MaxBacklog: 1000})
			defer rooms.Close()
			srv := httptest.NewServer(mustApp(t, ctx, rooms, front))
			defer srv.Close()

			rooms.Broadcast("A", &Message{Type: "message", From: "bob", Text: "first"})
			_, from := rooms.Recent("A", 0)
			big := strings.Repeat("x", 64<<10)
			for range 400 { // 25 MiB: more than loopback's socket buffers hold
				rooms.Broadcast("A", &Message{Type: "message", From: "bob", Text: big})
			}
			_ = rejoin(t, srv, "A", "ann", from.String()) // and never reads

			done := make(chan struct{})
			go func() {
				defer close(done)
				cid := join(t, srv, "A", "cid")
				_ = cid.SetReadDeadline(time.Now().Add(wait))
				var m Message
				if err := cid.ReadJSON(&m); err != nil || m.Type != "members" {
					t.Errorf("cid got %+v, %v; want the member list", m, err)
				}
			}()
			select {
			case <-done:
			case <-time.After(2 * wait):
				t.Fatal("cid's join waited on ann's stalled resume")
			}
		})
	}
}
