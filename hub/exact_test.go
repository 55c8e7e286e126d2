package hub

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// state is a value a program updates and broadcasts again, as a game or a
// status page does every tick.
type state struct {
	Tick int    `json:"tick"`
	Note string `json:"note"`
}

func stateJSON(tick int, note string) string {
	return fmt.Sprintf("{\"tick\":%d,\"note\":%q}\n", tick, note)
}

// member is one connection of a test room: its client and the server side
// of its connection.
type member struct {
	client *sockettest.Client
	conn   *wschan.Conn[*state]
}

// room serves members that join room "r" of h, with JoinConn or with Join,
// on the given front, and dials n of them.
func room(t *testing.T, h *Hub[*state], front string, withConn bool, n int) []member {
	t.Helper()
	joined := make(chan *wschan.Conn[*state], n)
	handler := bothFronts(func(c *wschan.Conn[*state]) {
		var m *Member[*state]
		if withConn {
			m, _ = h.JoinConn("r", "", c)
		} else {
			m, _ = h.Join("r", "", c.Sender, c.Disconnect, c.Done)
		}
		joined <- c
		<-c.Done
		m.Leave()
	})[front]
	srv := sockettest.NewServer(t, handler)
	var ms []member
	for range n {
		cl := srv.Dial("/ws")
		ms = append(ms, member{client: cl, conn: <-joined})
	}
	return ms
}

// forEachWay runs f for both fronts and both ways of joining.
func forEachWay(t *testing.T, f func(t *testing.T, front string, withConn bool)) {
	for _, front := range []string{"net/http", "macaron"} {
		for _, withConn := range []bool{true, false} {
			name := front + "/Join"
			if withConn {
				name = front + "/JoinConn"
			}
			t.Run(name, func(t *testing.T) { f(t, front, withConn) })
		}
	}
}

// TestRebroadcastSendsNewValue: a pointer broadcast, received, updated and
// broadcast again arrives with its new value, every time.
func TestRebroadcastSendsNewValue(t *testing.T) {
	forEachWay(t, func(t *testing.T, front string, withConn bool) {
		h := New[*state](Options{Logger: quiet()})
		defer h.Close()
		ms := room(t, h, front, withConn, 3)
		v := &state{}
		for tick := range 20 {
			v.Tick, v.Note = tick, strings.Repeat("x", tick)
			h.Broadcast("r", v)
			for _, m := range ms {
				m.client.ExpectText(stateJSON(tick, v.Note))
			}
		}
	})
}

// TestBroadcastThenDirectSend: a pointer once broadcast, updated, then put
// straight on a connection's sender goes out with its new value.
func TestBroadcastThenDirectSend(t *testing.T) {
	forEachWay(t, func(t *testing.T, front string, withConn bool) {
		h := New[*state](Options{Logger: quiet()})
		defer h.Close()
		ms := room(t, h, front, withConn, 2)
		v := &state{Tick: 1, Note: "broadcast"}
		h.Broadcast("r", v)
		for _, m := range ms {
			m.client.ExpectText(stateJSON(1, "broadcast"))
		}
		for i, m := range ms {
			v.Tick, v.Note = 2+i, "direct"
			m.conn.Sender <- v
			m.client.ExpectText(stateJSON(2+i, "direct"))
		}
	})
}

// TestTwoHubsOneValue: the same pointer broadcast by two hubs of one
// process, updated between the two, goes out as it was at each broadcast.
func TestTwoHubsOneValue(t *testing.T) {
	forEachWay(t, func(t *testing.T, front string, withConn bool) {
		h1, h2 := New[*state](Options{Logger: quiet()}), New[*state](Options{Logger: quiet()})
		defer h1.Close()
		defer h2.Close()
		m1, m2 := room(t, h1, front, withConn, 2), room(t, h2, front, withConn, 2)
		v := &state{Tick: 1, Note: "first hub"}
		h1.Broadcast("r", v)
		for _, m := range m1 {
			m.client.ExpectText(stateJSON(1, "first hub"))
		}
		v.Tick, v.Note = 2, "second hub"
		h2.Broadcast("r", v)
		for _, m := range m2 {
			m.client.ExpectText(stateJSON(2, "second hub"))
		}
		v.Tick, v.Note = 3, "first hub again"
		h1.Broadcast("r", v)
		for _, m := range m1 {
			m.client.ExpectText(stateJSON(3, "first hub again"))
		}
	})
}

// TestBroadcastQueuedBehindSlowMember: a member whose client does not read
// has broadcasts wait (its socket, sender and backlog full); a value
// updated after each Broadcast arrives, for a JoinConn member, as it was at
// each Broadcast, in order, once the client reads again.
func TestBroadcastQueuedBehindSlowMember(t *testing.T) {
	for _, front := range []string{"net/http", "macaron"} {
		t.Run(front, func(t *testing.T) {
			h := New[*state](Options{Logger: quiet(), QueueSize: 1000, MaxBacklog: 1000})
			defer h.Close()
			joined := make(chan *wschan.Conn[*state], 1)
			srv := sockettest.NewServer(t, bothFronts(func(c *wschan.Conn[*state]) {
				m, _ := h.JoinConn("r", "slow", c)
				joined <- c
				<-c.Done
				m.Leave()
			})[front])
			// A client that reads nothing until told.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, srv.WebSocketURL("/ws"),
				&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {srv.URL}}})
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			ws.SetReadLimit(-1)
			c := <-joined

			// Fill the socket until the write loop blocks and the sender
			// stays full: whatever comes next waits in the hub's backlog.
			filler := &state{Note: strings.Repeat("f", 256<<10)}
			fillers := 0
			for c.Connection.Stats().Sending < cap(c.Sender) {
				select {
				case c.Sender <- filler:
					fillers++
				case <-ctx.Done():
					t.Fatal("the sender never filled up")
				}
			}
			v := &state{}
			const updates = 50
			for i := range updates {
				v.Tick, v.Note = i, fmt.Sprint("as broadcast ", i)
				h.Broadcast("r", v)
			}
			v.Tick, v.Note = -1, "changed after the last broadcast"

			for range fillers {
				if _, _, err := ws.Read(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for i := range updates {
				_, got, err := ws.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if want := stateJSON(i, fmt.Sprint("as broadcast ", i)); string(got) != want {
					t.Fatalf("broadcast %d arrived as %q, want %q", i, got, want)
				}
			}
			_ = ws.Close(websocket.StatusNormalClosure, "")
		})
	}
}
