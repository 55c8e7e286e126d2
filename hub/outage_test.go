package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// bus is an in-memory network of backplanes, which can be taken down: its
// publishes then wait until it is up again, as a Durable publish retries
// while Redis is down.
type bus struct {
	mu   sync.Mutex
	subs []*memBackplane
	up   chan struct{} // closed while the bus is up
}

func newBus() *bus {
	b := &bus{up: make(chan struct{})}
	close(b.up)
	return b
}

func (b *bus) down() {
	b.mu.Lock()
	b.up = make(chan struct{})
	b.mu.Unlock()
}

func (b *bus) restore() {
	b.mu.Lock()
	close(b.up)
	b.mu.Unlock()
}

func (b *bus) join() *memBackplane {
	m := &memBackplane{bus: b, rooms: map[string]bool{}, in: make(chan Message, 1<<16)}
	b.mu.Lock()
	b.subs = append(b.subs, m)
	b.mu.Unlock()
	return m
}

type memBackplane struct {
	bus   *bus
	mu    sync.Mutex
	rooms map[string]bool
	in    chan Message
}

func (m *memBackplane) Run(ctx context.Context, deliver func(room string, msg []byte)) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-m.in:
			deliver(msg.Room, msg.Data)
		}
	}
}

func (m *memBackplane) Subscribe(room string)   { m.mu.Lock(); m.rooms[room] = true; m.mu.Unlock() }
func (m *memBackplane) Unsubscribe(room string) { m.mu.Lock(); delete(m.rooms, room); m.mu.Unlock() }

func (m *memBackplane) Publish(ctx context.Context, msgs []Message) (int, error) {
	m.bus.mu.Lock()
	up, subs := m.bus.up, m.bus.subs
	m.bus.mu.Unlock()
	select {
	case <-up:
	case <-ctx.Done():
		return len(msgs), ctx.Err()
	}
	for _, msg := range msgs {
		for _, s := range subs {
			s.mu.Lock()
			here := s.rooms[msg.Room]
			s.mu.Unlock()
			if here {
				s.in <- msg
			}
		}
	}
	return 0, nil
}

// TestBackplaneOutage: while the backplane is down, broadcasts wait in the
// publishing hub's buffer, in order, up to BackplaneBuffer bytes; past it,
// Broadcast returns ErrBackplaneFull and the message reaches the local
// members only. Once the backplane is back, the other server receives
// every waiting message once, in order, and counts each refused one as
// Lost: nothing is dropped silently.
func TestBackplaneOutage(t *testing.T) {
	net := newBus()
	a := New[string](Options{Logger: quiet(), Backplane: net.join(), BackplaneBuffer: 16 << 10, QueueSize: 4096, MaxBacklog: 4096})
	defer a.Close()
	b := New[string](Options{Logger: quiet(), Backplane: net.join(), QueueSize: 4096, MaxBacklog: 4096})
	defer b.Close()
	local, remote := newConn(4096), newConn(4096)
	a.Join("r", "local", local.sender, local.disconnect, local.done)
	b.Join("r", "remote", remote.sender, remote.disconnect, remote.done)

	net.down()
	const n = 1000
	var accepted []string
	refused := 0
	for i := range n {
		v := fmt.Sprintf("message %04d %s", i, "................................................................")
		switch err := a.Broadcast("r", v); {
		case err == nil:
			if refused > 0 {
				t.Fatalf("message %d was queued after %d were refused, with the backplane still down", i, refused)
			}
			accepted = append(accepted, v)
		case errors.Is(err, ErrBackplaneFull):
			refused++
		default:
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if len(accepted) == 0 || refused == 0 {
		t.Fatalf("%d queued and %d refused: want the 16 KiB buffer to take some and refuse the rest", len(accepted), refused)
	}
	for i := range n {
		if got := local.next(t); got[:12] != fmt.Sprintf("message %04d", i) {
			t.Fatalf("the local member's message %d is %q", i, got)
		}
	}
	net.restore()
	waitPublished(t, a, int64(len(accepted)))
	fence := "after the outage"
	if err := a.Broadcast("r", fence); err != nil {
		t.Fatal(err)
	}
	for i, want := range append(accepted, fence) {
		if got := remote.next(t); got != want {
			t.Fatalf("the remote member's message %d is %q, want %q", i, got, want)
		}
	}
	if st := b.Stats(); st.Lost != int64(refused) || st.Received != int64(len(accepted)+1) {
		t.Fatalf("the other server counts %d lost and %d received, want %d and %d", st.Lost, st.Received, refused, len(accepted)+1)
	}
	waitPublished(t, a, int64(len(accepted)+1))
	if st := a.Stats(); st.PublishFailures != int64(refused) {
		t.Fatalf("the publisher counts %d failures, want %d", st.PublishFailures, refused)
	}
	t.Logf("%d broadcasts waited out the outage, %d refused past 16 KiB and counted lost", len(accepted), refused)
}

// waitPublished waits until h's backplane has carried n broadcasts.
func waitPublished(t *testing.T, h *Hub[string], n int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for h.Stats().Published < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d published a minute later: %+v", h.Stats().Published, n, h.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestJoinCloseRace: Join, Broadcast, Leave and Close called concurrently,
// in any order, 300 times, with and without a backplane: no data race
// (under -race), no goroutine left (TestMain's goleak), and a member that
// joins once Close has begun is in no room.
func TestJoinCloseRace(t *testing.T) {
	for run := range 300 {
		opts := Options{Logger: quiet()}
		if run%2 == 1 {
			opts.Backplane = newBus().join()
		}
		h := New[string](opts)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c := newConn(4)
				m, err := h.Join(fmt.Sprint("room", i%3), fmt.Sprint("m", i), c.sender, c.disconnect, c.done)
				_ = h.Broadcast(fmt.Sprint("room", i%3), "hello")
				switch {
				case err != nil && !errors.Is(err, ErrClosed):
					t.Errorf("run %d: Join: %v", run, err)
				case err == nil && i%2 == 0:
					m.Leave()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			h.Close()
		}()
		close(start)
		wg.Wait()
		h.Close() // a second Close is harmless
		if rooms := h.Rooms(); len(rooms) != 0 {
			t.Fatalf("run %d: rooms %v after Close", run, rooms)
		}
		c := newConn(1)
		if m, err := h.Join("late", "late", c.sender, c.disconnect, c.done); m != nil || !errors.Is(err, ErrClosed) {
			t.Fatalf("run %d: Join after Close returned %v, %v; want nil, ErrClosed", run, m, err)
		}
		if len(h.Members("late")) != 0 {
			t.Fatalf("run %d: a member joined after Close", run)
		}
	}
}
