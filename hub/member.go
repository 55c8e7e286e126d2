package hub

import (
	"sync"
	"sync/atomic"
	"time"
)

// Member is one connection in one room.
type Member[T any] struct {
	// Name identifies the member in Members, Presence and SendTo.
	Name string

	hub        *Hub[T]
	room       string
	sender     chan<- T
	disconnect chan<- int
	done       <-chan bool
	watcher    *watcher[T]

	mu          sync.Mutex
	backlog     []T // values waiting for room in sender, oldest at head
	head        int
	draining    bool      // a goroutine is draining the backlog
	behindSince time.Time // when the backlog last went over QueueSize
	gone        bool      // left: nothing more is queued
	drops       int64

	left   chan struct{} // closed on Leave: stops a drain
	once   sync.Once
	kicked atomic.Bool // the Disconnect policy has dealt with it
}

// Join adds a connection to room under name, with the channels the
// middleware injected: values broadcast to the room go to sender; the
// member leaves when done fires (the hub receives from done, which the
// middleware closes right after its one value); disconnect is used by the
// Disconnect policy.
func (h *Hub[T]) Join(room, name string, sender chan<- T, disconnect chan<- int, done <-chan bool) *Member[T] {
	m := &Member[T]{Name: name, hub: h, room: room, sender: sender, disconnect: disconnect, done: done,
		left: make(chan struct{})}
	h.mu.Lock()
	members, ok := h.rooms[room]
	if !ok {
		members = make(map[*Member[T]]struct{})
		h.rooms[room] = members
	}
	members[m] = struct{}{}
	if h.bp != nil {
		// Under the lock, so that the backplane sees a room's joins and
		// leaves in the order they happened; it only notes the change.
		if !ok {
			h.bp.roomOpened(room)
		}
		h.bp.present(room, name, true)
	}
	h.mu.Unlock()
	h.members.Add(1)
	h.watch(m)
	return m
}

// offer hands v to the member: into its sender if there is room and
// nothing waits before it, else into its backlog. It reports whether the
// member must be disconnected (the caller does it, outside the hub's
// lock).
func (m *Member[T]) offer(v T) (kick bool) {
	h := m.hub
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone {
		return false
	}
	if !m.draining {
		select {
		case m.sender <- v:
			return false
		default:
		}
	}
	m.backlog = append(m.backlog, v)
	if !m.draining {
		m.draining = true
		h.wg.Add(1)
		go m.drain()
	}
	waiting := len(m.backlog) - m.head
	if waiting <= h.opts.QueueSize {
		return false
	}
	now := time.Now()
	if m.behindSince.IsZero() {
		m.behindSince = now
	}
	if waiting < h.opts.MaxBacklog && now.Sub(m.behindSince) < h.opts.Patience {
		return false
	}
	if h.opts.Policy == Disconnect {
		return m.kicked.CompareAndSwap(false, true)
	}
	// DropOldest: down to QueueSize.
	n := waiting - h.opts.QueueSize
	var zero T
	for i := m.head; i < m.head+n; i++ {
		m.backlog[i] = zero
	}
	m.head += n
	h.dropped.Add(int64(n))
	before := m.drops
	m.drops += int64(n)
	// Log when the count crosses a power of two: a member that stays
	// behind cannot flood the log.
	if bitLen(before) != bitLen(m.drops) {
		h.opts.Logger.Printf("room %q: member %q is behind by %d for %v; dropped its oldest messages (%d so far)",
			m.room, m.Name, waiting, now.Sub(m.behindSince).Round(time.Millisecond), m.drops)
	}
	return false
}

func bitLen(n int64) int {
	b := 0
	for ; n > 0; n >>= 1 {
		b++
	}
	return b
}

// drain moves the backlog into the sender, waiting for room, until the
// backlog is empty or the member leaves. It is the member's only
// goroutine, and lives only while the member is behind.
func (m *Member[T]) drain() {
	h := m.hub
	defer h.wg.Done()
	var zero T
	for {
		m.mu.Lock()
		if m.gone || m.head == len(m.backlog) {
			m.draining = false
			m.backlog, m.head = m.backlog[:0], 0
			if cap(m.backlog) > 4*h.opts.QueueSize {
				m.backlog = nil // a burst's buffer is not kept
			}
			m.behindSince = time.Time{}
			m.mu.Unlock()
			return
		}
		v := m.backlog[m.head]
		m.backlog[m.head] = zero
		m.head++
		if len(m.backlog)-m.head <= h.opts.QueueSize {
			m.behindSince = time.Time{}
		}
		m.mu.Unlock()
		select {
		case m.sender <- v:
		case <-m.left:
		case <-h.ctx.Done():
		}
	}
}

// kick applies the Disconnect policy: one count, one line, one close code.
func (m *Member[T]) kick() {
	h := m.hub
	h.disconnected.Add(1)
	h.opts.Logger.Printf("room %q: member %q cannot keep up; disconnecting it with %d", m.room, m.Name, ClosePolicyViolation)
	select {
	case m.disconnect <- ClosePolicyViolation:
	default: // a close code is already pending
	}
	m.Leave()
}

// Leave removes the member from its room. It is safe to call more than once.
func (m *Member[T]) Leave() {
	m.once.Do(func() {
		h := m.hub
		h.mu.Lock()
		delete(h.rooms[m.room], m)
		last := len(h.rooms[m.room]) == 0
		if last {
			delete(h.rooms, m.room)
		}
		if h.bp != nil {
			h.bp.present(m.room, m.Name, false)
			if last {
				h.bp.roomClosed(m.room)
			}
		}
		h.mu.Unlock()
		h.members.Add(-1)
		m.mu.Lock()
		m.gone = true
		m.mu.Unlock()
		close(m.left)
		h.unwatch(m)
	})
}
