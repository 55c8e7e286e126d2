package main

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-macaron/sockets/hub"
	"github.com/gorilla/websocket"
)

// TestJoinBurst: a thousand real clients join one room at once, under the
// example's own hub settings (the Disconnect policy, the default queue),
// but for Patience: each join is announced to every member already there,
// half a million messages in a burst. Members that keep reading are never
// disconnected. (Round one's hub, a 64-value queue judged on each
// broadcast, kicked 75 of them here.) How fast the burst goes is not under
// test: Patience is a minute, so that a machine ten times slower (whose
// readers stay behind for more than the default five seconds) passes too,
// and the test fails only when the burst stops making progress.
func TestJoinBurst(t *testing.T) {
	const (
		clients = 1000
		stalled = time.Minute // no join or delivery for this long: stuck
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rooms := hub.New[*Message](hub.Options{Policy: hub.Disconnect, Patience: time.Minute, Logger: log.New(io.Discard, "", 0), History: historyKept})
	defer rooms.Close()
	srv := httptest.NewServer(mustApp(t, ctx, rooms, "net/http"))
	defer srv.Close()

	var kicked atomic.Int64
	var readers sync.WaitGroup
	conns := make([]*websocket.Conn, clients)
	joined := make(chan struct{}, clients) // a member's first message: the room's members
	fence := make(chan struct{}, clients)
	dial := make(chan int)
	var dialers sync.WaitGroup
	errs := make(chan error, clients)
	for range clients { // every client dials at once
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for i := range dial {
				url := "ws" + srv.URL[len("http"):] + "/sockets/rooms/burst/u" + strconv.Itoa(i)
				c, _, err := websocket.DefaultDialer.Dial(url, map[string][]string{"Origin": {srv.URL}})
				if err != nil {
					errs <- err
					continue
				}
				conns[i] = c
				readers.Add(1)
				go func() {
					defer readers.Done()
					for {
						var m Message
						if err := c.ReadJSON(&m); err != nil {
							if websocket.IsCloseError(err, hub.ClosePolicyViolation) {
								kicked.Add(1)
							}
							return
						}
						if m.Type == "members" {
							joined <- struct{}{}
						}
						if m.Type == "message" && m.Text == "fence" {
							fence <- struct{}{}
						}
					}
				}()
			}
		}()
	}
	for i := range clients {
		dial <- i
	}
	close(dial)
	dialers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
		readers.Wait()
	}()
	for i := range clients {
		select {
		case <-joined:
		case <-time.After(stalled):
			t.Fatalf("%d of %d clients joined, then none for %v; %d kicked", i, clients, stalled, kicked.Load())
		}
	}
	// After the burst, one message reaches every member: none was dropped.
	if err := conns[0].WriteJSON(Message{Text: "fence"}); err != nil {
		t.Fatal(err)
	}
	for i := range clients {
		select {
		case <-fence:
		case <-time.After(stalled):
			t.Fatalf("%d of %d members received the message after the burst, then none for %v; %d kicked; hub %+v",
				i, clients, stalled, kicked.Load(), rooms.Stats())
		}
	}
	st := rooms.Stats()
	if st.Disconnected != 0 || kicked.Load() != 0 || st.Members != clients {
		t.Fatalf("members that read were disconnected by a burst of joins: %d kicked, hub %+v", kicked.Load(), st)
	}
	t.Logf("%d joins, %d deliveries, none dropped or disconnected", clients, st.Deliveries)
}
