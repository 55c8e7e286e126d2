package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// tick is a broadcast that carries its own position, as an application's
// message with an id field does.
type tick struct {
	N  int    `json:"n"`
	ID string `json:"id,omitempty"`
	// Recovered and Reason answer a rejoin (N is then -1).
	Recovered *bool  `json:"recovered,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

func (t *tick) SetPosition(p Position) { t.ID = p.String() }

// recoveryServer serves members of room "r" that join from the position
// in the query's "from", and tells each whether it recovered.
func recoveryServer(t *testing.T, h *Hub[*tick]) *sockettest.Server {
	return sockettest.NewServer(t, wschan.Handler(func(c *wschan.Conn[*tick]) {
		m, rec, err := h.JoinConnFrom("r", "", c, c.Request.URL.Query().Get("from"))
		if err != nil {
			return
		}
		defer m.Leave()
		recovered := rec.Recovered
		select { // the hub fills the sender too: a dropped client's may stay full
		case c.Sender <- &tick{N: -1, Recovered: &recovered, Reason: rec.Reason}:
		case <-c.Done:
			return
		}
		<-c.Done
	}, &wschan.Options{SkipLogging: true}))
}

// rawClient is a client that reads the room's ticks in order.
type rawClient struct {
	ws  *websocket.Conn
	ctx context.Context
}

func dialRoom(t *testing.T, srv *sockettest.Server, from string) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	ws, _, err := websocket.Dial(ctx, srv.WebSocketURL("/ws?from="+from),
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &rawClient{ws: ws, ctx: ctx}
}

func (c *rawClient) next(t *testing.T) *tick {
	t.Helper()
	_, b, err := c.ws.Read(c.ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var v tick
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// TestRecoveryAtRandomMoments: a client that drops at a random moment of
// a burst of broadcasts and rejoins from the last position it saw, once or
// several times, gets every broadcast of the room exactly once, in order,
// and is told each time that it recovered; 200 runs, over real sockets.
func TestRecoveryAtRandomMoments(t *testing.T) {
	const runs, burst = 200, 60
	totalDrops := 0
	defer func() {
		if totalDrops < runs/2 {
			t.Errorf("%d rejoins in %d runs: the test hardly tested", totalDrops, runs)
		}
	}()
	for run := range runs {
		h := New[*tick](Options{History: 1000, Logger: quiet()})
		srv := recoveryServer(t, h)
		c := dialRoom(t, srv, "")
		if v := c.next(t); v.N != -1 || *v.Recovered || v.Reason != ReasonNoPosition {
			t.Fatalf("run %d: a first join was answered %+v", run, v)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range burst {
				h.Broadcast("r", &tick{N: i})
				if rand.IntN(4) == 0 {
					time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
				}
			}
		}()
		var got []int
		last := ""
		drops := 0
		for len(got) < burst {
			v := c.next(t)
			if v.N == -1 {
				if !*v.Recovered {
					t.Fatalf("run %d: a rejoin from %q was not recovered: %s", run, last, v.Reason)
				}
				continue
			}
			got = append(got, v.N)
			last = v.ID
			if drops < 3 && len(got) < burst && rand.IntN(burst/3) == 0 {
				_ = c.ws.CloseNow()
				c = dialRoom(t, srv, last)
				drops++
			}
		}
		<-done
		totalDrops += drops
		for i, n := range got {
			if n != i {
				t.Fatalf("run %d (%d drops): received %v, want 0..%d once each, in order", run, drops, got, burst-1)
			}
		}
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
		srv.Close()
		h.Close()
	}
}

// TestRecoveryRefusals: a rejoin that cannot be complete is told why and
// is replayed nothing: no position, garbage, another room's or another
// hub's epoch, a position from the future, one older than the history, a
// hub without history.
func TestRecoveryRefusals(t *testing.T) {
	h := New[*tick](Options{History: 5, Logger: quiet()})
	defer h.Close()
	for i := range 20 {
		h.Broadcast("r", &tick{N: i})
		h.Broadcast("other", &tick{N: i})
	}
	_, pos := h.Recent("r", 0)
	_, otherPos := h.Recent("other", 0)
	restarted := New[*tick](Options{History: 5, Logger: quiet()})
	defer restarted.Close()
	restarted.Broadcast("r", &tick{N: 0})
	_, restartedPos := restarted.Recent("r", 0)
	for _, tc := range []struct {
		name, from, reason string
	}{
		{"none", "", ReasonNoPosition},
		{"garbage", "hello", ReasonMalformed},
		{"bad hex", strings.Repeat("g", 16) + "-3", ReasonMalformed},
		{"leading zero", pos.Epoch + "-03", ReasonMalformed},
		{"signed", pos.Epoch + "-+3", ReasonMalformed},
		{"overflow", pos.Epoch + "-99999999999999999999", ReasonMalformed},
		{"huge", strings.Repeat("a", 1<<20), ReasonMalformed},
		{"another room", otherPos.String(), ReasonEpoch},
		{"another hub", restartedPos.String(), ReasonEpoch},
		{"future", Position{Epoch: pos.Epoch, Offset: pos.Offset + 1}.String(), ReasonFuture},
		{"too old", Position{Epoch: pos.Epoch, Offset: 3}.String(), ReasonTooOld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTickConn(64)
			m, rec, err := h.JoinFrom("r", tc.name, c.sender, c.disconnect, c.done, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Leave()
			if rec.Recovered || rec.Replayed != 0 || rec.Reason != tc.reason {
				t.Fatalf("%+v, want not recovered: %s", rec, tc.reason)
			}
			if len(c.sender) != 0 {
				t.Fatalf("%d values replayed", len(c.sender))
			}
		})
	}
	// The newest kept broadcasts are replayed from a position within the
	// history; from the last one, nothing, and that is complete.
	for _, tc := range []struct {
		from   Position
		replay int
	}{{Position{Epoch: pos.Epoch, Offset: pos.Offset - 5}, 5}, {Position{Epoch: pos.Epoch, Offset: pos.Offset - 1}, 1}, {pos, 0}} {
		c := newTickConn(64)
		m, rec, _ := h.JoinFrom("r", "ok", c.sender, c.disconnect, c.done, tc.from.String())
		if !rec.Recovered || rec.Replayed != tc.replay || len(c.sender) != tc.replay {
			t.Errorf("from %v: %+v with %d values, want %d replayed", tc.from, rec, len(c.sender), tc.replay)
		}
		m.Leave()
	}
	none := New[string](Options{Logger: quiet()})
	defer none.Close()
	c := newConn(1)
	m, rec, _ := none.JoinFrom("r", "x", c.sender, c.disconnect, c.done, pos.String())
	m.Leave()
	if rec.Recovered || rec.Reason != ReasonNoHistory {
		t.Errorf("a hub without history answered %+v", rec)
	}
}

// TestHistoryExpires: a room whose kept broadcasts have all expired
// forgets its history; a position from before is another epoch's.
func TestHistoryExpires(t *testing.T) {
	h := New[*tick](Options{History: 10, HistoryTTL: 20 * time.Millisecond, Logger: quiet()})
	defer h.Close()
	h.Broadcast("r", &tick{N: 0})
	_, pos := h.Recent("r", 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.histMu.Lock()
		n := len(h.histories)
		h.histMu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired history is still kept 10 s later")
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, bounded above
	}
	h.Broadcast("r", &tick{N: 1})
	c := newTickConn(4)
	m, rec, _ := h.JoinFrom("r", "x", c.sender, c.disconnect, c.done, pos.String())
	m.Leave()
	if rec.Recovered || rec.Reason != ReasonEpoch {
		t.Fatalf("%+v, want %s", rec, ReasonEpoch)
	}
}

// TestOneOrderPerRoom: with a history, broadcasts made at once from many
// goroutines reach every member in one order, the order of their offsets.
func TestOneOrderPerRoom(t *testing.T) {
	h := New[*tick](Options{History: 100, Logger: quiet()})
	defer h.Close()
	const members, senders, each = 4, 8, 200
	conns := make([]*tickConn, members)
	for i := range conns {
		conns[i] = newTickConn(senders * each)
		h.Join("r", fmt.Sprint(i), conns[i].sender, conns[i].disconnect, conns[i].done)
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				h.Broadcast("r", &tick{N: s*each + i})
			}
		}()
	}
	wg.Wait()
	var first []string
	for i, c := range conns {
		var ids []string
		for range senders * each {
			ids = append(ids, (<-c.sender).ID)
		}
		if i == 0 {
			first = ids
			for j, id := range ids {
				if p, _ := ParsePosition(id); p.Offset != uint64(j+1) {
					t.Fatalf("member 0's %dth value has position %q", j, id)
				}
			}
		} else if strings.Join(ids, ",") != strings.Join(first, ",") {
			t.Fatalf("members %d and 0 saw the room in different orders", i)
		}
	}
}

// tickConn stands for a connection's channels, for ticks.
type tickConn struct {
	sender     chan *tick
	disconnect chan int
	done       chan bool
}

func newTickConn(buffer int) *tickConn {
	return &tickConn{sender: make(chan *tick, buffer), disconnect: make(chan int, 1), done: make(chan bool, 3)}
}

// TestReplayedAsBroadcast: a value changed between two broadcasts is
// replayed as it was at each (JoinConn members get the encoding made at
// Broadcast, kept with the history), over a real socket.
func TestReplayedAsBroadcast(t *testing.T) {
	h := New[*tick](Options{History: 10, Logger: quiet()})
	defer h.Close()
	_, from := h.Recent("r", 0)
	v := &tick{N: 1}
	h.Broadcast("r", v)
	v.N = 2 // the same value, changed, broadcast again
	h.Broadcast("r", v)
	v.N = 3 // changed after: neither broadcast carries it
	srv := recoveryServer(t, h)
	c := dialRoom(t, srv, from.String())
	var got []*tick
	for len(got) < 2 {
		if m := c.next(t); m.N != -1 {
			got = append(got, m)
		}
	}
	if got[0].N != 1 || got[1].N != 2 || got[0].ID == got[1].ID {
		t.Fatalf("replayed %+v and %+v, want n 1 then 2, each with its own position", got[0], got[1])
	}
}
