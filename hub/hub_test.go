package hub

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const wait = 5 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// conn stands for the channels the middleware injects for one connection.
type conn struct {
	sender     chan string
	disconnect chan int
	done       chan bool
}

func newConn(buffer int) *conn {
	return &conn{sender: make(chan string, buffer), disconnect: make(chan int, 1), done: make(chan bool, 3)}
}

// end fires done as the middleware does.
func (c *conn) end() {
	c.done <- true
	close(c.done)
}

func (c *conn) next(t *testing.T) string {
	t.Helper()
	select {
	case v := <-c.sender:
		return v
	case <-time.After(wait):
		t.Fatal("nothing delivered")
		return ""
	}
}

func quiet() *log.Logger { return log.New(io.Discard, "", 0) }

func TestJoinBroadcastLeave(t *testing.T) {
	h := New[string](Options{Logger: quiet()})
	defer h.Close()
	a, b, c := newConn(10), newConn(10), newConn(10)
	ma, _ := h.Join("A", "ann", a.sender, a.disconnect, a.done)
	h.Join("A", "bob", b.sender, b.disconnect, b.done)
	h.Join("B", "cid", c.sender, c.disconnect, c.done)
	if got := h.Members("A"); !slices.Equal(got, []string{"ann", "bob"}) {
		t.Fatalf("members of A: %v", got)
	}
	h.Broadcast("A", "to all")
	if a.next(t) != "to all" || b.next(t) != "to all" {
		t.Fatal("broadcast not delivered to every member")
	}
	h.BroadcastOthers("A", "from ann", ma)
	if b.next(t) != "from ann" {
		t.Fatal("broadcast to others not delivered")
	}
	h.Broadcast("B", "room B")
	if c.next(t) != "room B" {
		t.Fatal("room B")
	}
	select {
	case v := <-a.sender:
		t.Fatalf("ann got %q: her own message, or room B's", v)
	default:
	}
	ma.Leave()
	ma.Leave() // twice is fine
	if got := h.Members("A"); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("after leave: %v", got)
	}
}

func TestLeaveOnDone(t *testing.T) {
	h := New[string](Options{Logger: quiet()})
	defer h.Close()
	a := newConn(10)
	h.Join("A", "ann", a.sender, a.disconnect, a.done)
	a.end()
	deadline := time.Now().Add(wait)
	for len(h.Members("A")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the member did not leave when done fired")
		}
		time.Sleep(time.Millisecond)
	}
}

// A member that does not read does not hold up the others, and the policy
// applies to it.
func TestStalledMember(t *testing.T) {
	for _, policy := range []Policy{DropOldest, Disconnect} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			logs := &lockedBuffer{}
			h := New[string](Options{QueueSize: 4, MaxBacklog: 8, Policy: policy, Logger: log.New(logs, "", 0)})
			defer h.Close()
			stalled := newConn(0) // its sender is never read
			live := newConn(200)
			h.Join("A", "stalled", stalled.sender, stalled.disconnect, stalled.done)
			h.Join("A", "live", live.sender, live.disconnect, live.done)
			const n = 100
			for i := range n {
				h.Broadcast("A", fmt.Sprint(i))
				// The live member keeps up: each value arrives before the next
				// is sent, however stuck the other member is.
				if v := live.next(t); v != fmt.Sprint(i) {
					t.Fatalf("live member got %q, want %d", v, i)
				}
			}
			st := h.Stats()
			switch policy {
			case DropOldest:
				// 1 value held by the drain, at most 8 waiting: the rest dropped.
				if st.Dropped < n-9 || st.Disconnected != 0 {
					t.Fatalf("stats %+v", st)
				}
			case Disconnect:
				if st.Disconnected != 1 || !slices.Equal(h.Members("A"), []string{"live"}) {
					t.Fatalf("stats %+v, members %v", st, h.Members("A"))
				}
				if code := <-stalled.disconnect; code != ClosePolicyViolation {
					t.Fatalf("disconnected with %d", code)
				}
			}
			if logs.String() == "" {
				t.Fatal("nothing logged")
			}
		})
	}
}

// The newest values survive DropOldest.
func TestDropOldestKeepsNewest(t *testing.T) {
	h := New[string](Options{QueueSize: 3, MaxBacklog: 3, Logger: quiet()})
	defer h.Close()
	c := newConn(0)
	m, _ := h.Join("A", "slow", c.sender, c.disconnect, c.done)
	h.Broadcast("A", "0")
	deadline := time.Now().Add(wait)
	for m.waiting() != 0 { // until the drain holds "0"
		if time.Now().After(deadline) {
			t.Fatal("the drain never took the first value")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < 10; i++ {
		h.Broadcast("A", fmt.Sprint(i))
	}
	var got []string
	for range 4 { // the one the forwarder holds, then the queue
		got = append(got, c.next(t))
	}
	if !slices.Equal(got, []string{"0", "7", "8", "9"}) {
		t.Fatalf("delivered %v, want the held one, then the newest three", got)
	}
}

func TestConcurrentBroadcast(t *testing.T) {
	h := New[string](Options{QueueSize: 1000, Logger: quiet()})
	defer h.Close()
	conns := make([]*conn, 20)
	for i := range conns {
		conns[i] = newConn(1000)
		h.Join("A", fmt.Sprint(i), conns[i].sender, conns[i].disconnect, conns[i].done)
	}
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 50 {
				h.Broadcast("A", fmt.Sprintf("%d-%d", w, i))
			}
		}()
	}
	for range 4 {
		<-done
	}
	for _, c := range conns {
		for range 200 {
			c.next(t)
		}
	}
}

// lockedBuffer collects log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDisconnectOnce: concurrent broadcasters that all find a stalled
// member's queue full disconnect it once, count it once and log one line.
func TestDisconnectOnce(t *testing.T) {
	for range 20 {
		logs := &lockedBuffer{}
		h := New[string](Options{QueueSize: 1, MaxBacklog: 1, Policy: Disconnect, Logger: log.New(logs, "", 0)})
		stalled := newConn(0) // its sender is never read
		h.Join("A", "stalled", stalled.sender, stalled.disconnect, stalled.done)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					h.Broadcast("A", fmt.Sprint(g, i))
				}
			}()
		}
		wg.Wait()
		h.Close()
		if st := h.Stats(); st.Disconnected != 1 {
			t.Fatalf("disconnected counted %d times for one member", st.Disconnected)
		}
		if n := strings.Count(logs.String(), "cannot keep up"); n != 1 {
			t.Fatalf("%d lines for one member:\n%s", n, logs)
		}
	}
}

// waiting is how many values wait in m's backlog.
func (m *Member[T]) waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.backlog) - m.head
}

// TestBurstIsNotPunished: a burst far beyond QueueSize (but under
// MaxBacklog) delivered to members that keep reading acts on none of
// them, whatever the policy; a member that stays behind for Patience is
// acted on.
func TestBurstIsNotPunished(t *testing.T) {
	for _, policy := range []Policy{DropOldest, Disconnect} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			h := New[string](Options{QueueSize: 4, Policy: policy, Patience: time.Hour, Logger: quiet()})
			defer h.Close()
			const members, burst = 50, 1000
			var wg sync.WaitGroup
			for i := range members {
				c := newConn(0) // no buffer: everything goes through the backlog
				h.Join("A", fmt.Sprint(i), c.sender, c.disconnect, c.done)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range burst {
						if v := c.next(t); v != fmt.Sprint(j) {
							t.Errorf("member %d got %q, want %d", i, v, j)
							return
						}
					}
				}()
			}
			for j := range burst {
				h.Broadcast("A", fmt.Sprint(j))
			}
			wg.Wait()
			if st := h.Stats(); st.Dropped != 0 || st.Disconnected != 0 || st.Members != members {
				t.Fatalf("a burst to members that read was punished: %+v", st)
			}
		})
	}
}

// TestBehindForPatience: a member that stays more than QueueSize behind
// for Patience is acted on at the next delivery.
func TestBehindForPatience(t *testing.T) {
	for _, policy := range []Policy{DropOldest, Disconnect} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			// MaxBacklog out of reach: only Patience can act.
			h := New[string](Options{QueueSize: 4, MaxBacklog: 1 << 24, Policy: policy, Patience: 10 * time.Millisecond, Logger: quiet()})
			defer h.Close()
			stalled := newConn(0)
			h.Join("A", "stalled", stalled.sender, stalled.disconnect, stalled.done)
			deadline := time.Now().Add(wait)
			for i := 0; ; i++ {
				h.Broadcast("A", fmt.Sprint(i))
				st := h.Stats()
				if st.Dropped > 0 || st.Disconnected > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a member behind for %v was never acted on: %+v", wait, st)
				}
			}
		})
	}
}

// TestNoGoroutinePerMember: idle members cost one goroutine per 64 (the
// done watchers), not one each.
func TestNoGoroutinePerMember(t *testing.T) {
	h := New[string](Options{Logger: quiet()})
	defer h.Close()
	before := runtime.NumGoroutine()
	const n = 1000
	conns := make([]*conn, n)
	for i := range conns {
		conns[i] = newConn(16)
		h.Join(fmt.Sprint("room", i%10), fmt.Sprint(i), conns[i].sender, conns[i].disconnect, conns[i].done)
	}
	for r := range 10 {
		h.Broadcast(fmt.Sprint("room", r), "hello")
	}
	added := runtime.NumGoroutine() - before
	if limit := n/watchGroup + 1; added > limit {
		t.Fatalf("%d idle members added %d goroutines, want at most %d", n, added, limit)
	}
	t.Logf("%d idle members: %d goroutines", n, added)
	// Every done still makes its member leave.
	for _, c := range conns {
		c.end()
	}
	deadline := time.Now().Add(wait)
	for h.Stats().Members != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d members did not leave when done fired", h.Stats().Members)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPolicySlog: with Options.Slog, the policy's lines are records with a
// constant message and the room, member and counts as attributes.
func TestPolicySlog(t *testing.T) {
	for _, tc := range []struct {
		policy Policy
		msg    string
	}{{DropOldest, "Member behind: dropped its oldest messages"}, {Disconnect, "Member cannot keep up: disconnecting it"}} {
		t.Run(fmt.Sprint(tc.policy), func(t *testing.T) {
			logs := &lockedBuffer{}
			h := New[string](Options{QueueSize: 4, MaxBacklog: 8, Policy: tc.policy, Logger: quiet(),
				Slog: slog.New(slog.NewJSONHandler(logs, nil))})
			defer h.Close()
			stalled := newConn(0) // its sender is never read
			h.Join("A", "stalled", stalled.sender, stalled.disconnect, stalled.done)
			for i := range 100 {
				h.Broadcast("A", fmt.Sprint(i))
			}
			var first map[string]any
			line, _, _ := strings.Cut(logs.String(), "\n")
			if err := json.Unmarshal([]byte(line), &first); err != nil {
				t.Fatalf("not a JSON record: %q", logs.String())
			}
			if first["msg"] != tc.msg || first["level"] != "WARN" || first["room"] != "A" || first["member"] != "stalled" {
				t.Fatalf("record %v", first)
			}
		})
	}
}
