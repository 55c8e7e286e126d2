package hub

import (
	"log/slog"
	"math/bits"
	"sync"

	"sync/atomic"
	"time"

	"github.com/go-macaron/sockets/internal/park"
	"github.com/go-macaron/sockets/wschan"
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
	conn       *wschan.Connection // nil when joined with Join
	watched    park.PairSpot      // where the hub waits on done

	mu          sync.Mutex
	backlog     []T // values waiting for room in sender, oldest at head
	head        int
	draining    bool      // a goroutine is draining the backlog
	behindSince time.Time // when the backlog last went over QueueSize
	gone        bool      // left: nothing more is queued
	drops       int64

	// With a Streams backplane: the stream entry last handed to the
	// member (later deliveries of it or before it are duplicates), and,
	// while it catches up from a position, the live deliveries held until
	// the replay has reached them.
	last     Position
	catching bool
	held     []heldEntry[T]
	overflow bool // held past MaxBacklog while catching up: not recovered

	left   chan struct{} // closed on Leave: stops a drain
	nudge  chan struct{} // tells the drain the member has fallen behind
	once   sync.Once
	kicked atomic.Bool // the Disconnect policy has dealt with it
}

// Join adds a connection to room under name, with its channels: broadcasts
// go to sender, the member leaves when done fires, and the Disconnect
// policy uses disconnect. The connection encodes each value when it takes
// it from sender (JoinConn has a broadcast encoded once, at Broadcast).
// Once Close has begun, Join returns ErrClosed and changes nothing.
func (h *Hub[T]) Join(room, name string, sender chan<- T, disconnect chan<- int, done <-chan bool) (*Member[T], error) {
	return h.join(&Member[T]{Name: name, hub: h, room: room, sender: sender, disconnect: disconnect, done: done})
}

// JoinConn adds c to room under name, as Join does with its channels, and
// sends it broadcasts as they were at Broadcast: a JSON pointer is encoded
// once for all such members and the backplane, and each connection sends
// those bytes in order with everything else on its sender. A Macaron
// handler makes c from the channels and *wschan.Connection injected.
func (h *Hub[T]) JoinConn(room, name string, c *wschan.Conn[T]) (*Member[T], error) {
	return h.join(&Member[T]{Name: name, hub: h, room: room, sender: c.Sender, disconnect: c.Disconnect, done: c.Done,
		conn: c.Connection})
}

func (h *Hub[T]) join(m *Member[T]) (*Member[T], error) { return h.joinWith(m, nil) }

// joinWith adds m to its room and, when then is set, calls it under the
// hub's write lock once m is in (a replay).
func (h *Hub[T]) joinWith(m *Member[T], then func()) (*Member[T], error) {
	room, name := m.room, m.Name
	m.left = make(chan struct{})
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
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
	// Under the lock too, so that Close (which takes it first) waits for
	// the watcher this may start.
	h.members.Add(1)
	h.watch(m)
	if then != nil {
		then()
	}
	h.mu.Unlock()
	return m, nil
}

// offer hands p to the member (its sender if it has room and nothing waits
// before it, else its backlog), and reports whether the member must be
// disconnected (the caller does it, outside the hub's lock).
func (m *Member[T]) offer(p *parcel[T]) (kick bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offerLocked(p)
}

// offerLocked is offer under m.mu.
func (m *Member[T]) offerLocked(p *parcel[T]) (kick bool) {
	h := m.hub
	if m.gone {
		return false
	}
	v := p.v
	if m.conn != nil && p.prepared() {
		v = p.token
		frame, err := p.frameFor(m.conn.JSONCodec)
		m.conn.Prepare(any(v), frame, err)
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
		if m.nudge == nil {
			m.nudge = make(chan struct{}, 1) // for members that ever fall behind
		}
		m.draining = true
		h.wg.Add(1)
		go m.drain()
	}
	if len(m.backlog)-m.head > h.opts.QueueSize && m.behindSince.IsZero() {
		m.behindSince = time.Now()
		select {
		case m.nudge <- struct{}{}: // the drain arms its Patience deadline
		default:
		}
	}
	if len(m.backlog)-m.head <= h.opts.QueueSize || m.behindSince.IsZero() {
		return false // not behind: police would say so, without the clock's cost
	}
	return m.police(time.Now())
}

// police applies the Policy if the member has stayed behind for Patience,
// or holds MaxBacklog values, at now; it reports whether the member must be
// disconnected (the caller does it, outside the locks). A broadcast calls
// it, and so does the drain when Patience passes with no broadcast (a
// member that fell behind just before its room went quiet). Called under
// m.mu.
func (m *Member[T]) police(now time.Time) (kick bool) {
	h := m.hub
	waiting := len(m.backlog) - m.head
	if waiting <= h.opts.QueueSize || m.behindSince.IsZero() {
		return false
	}
	if waiting < h.opts.MaxBacklog && now.Sub(m.behindSince) < h.opts.Patience {
		return false
	}
	if h.opts.Policy == Disconnect {
		return m.kicked.CompareAndSwap(false, true)
	}
	// DropOldest: down to QueueSize.
	n := waiting - h.opts.QueueSize
	m.forget(m.backlog[m.head : m.head+n])
	m.head += n
	h.dropped.Add(int64(n))
	before := m.drops
	m.drops += int64(n)
	// Log when the count crosses a power of two: a member that stays
	// behind cannot flood the log.
	if bits.Len64(uint64(before)) != bits.Len64(uint64(m.drops)) {
		behind := now.Sub(m.behindSince).Round(time.Millisecond)
		h.opts.logEvent(slog.LevelWarn, "Member behind: dropped its oldest messages",
			slog.String("room", m.room), slog.String("member", m.Name), slog.Int("waiting", waiting),
			slog.Duration("behind", behind), slog.Int64("dropped", m.drops))
	}
	return false
}

// drain moves the backlog into the sender, waiting for room, until the
// backlog is empty or the member leaves. It is the member's only
// goroutine, and lives only while the member is behind. While more than
// QueueSize values wait, it also holds the Patience deadline: when that
// passes before the member has caught up, the Policy applies then, not at
// the next broadcast (which a quiet room may never make).
func (m *Member[T]) drain() {
	h := m.hub
	defer h.wg.Done()
	var zero T
	var patience *time.Timer
	defer func() {
		if patience != nil {
			patience.Stop()
		}
	}()
	for {
		m.mu.Lock()
		if m.gone || m.head == len(m.backlog) {
			m.forget(m.backlog[m.head:])
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
	send:
		// The Patience deadline, while the member is behind; a broadcast
		// that puts it behind nudges this wait to arm it.
		var due <-chan time.Time
		m.mu.Lock()
		if !m.gone && !m.behindSince.IsZero() && len(m.backlog)-m.head > h.opts.QueueSize {
			wait := time.Until(m.behindSince.Add(h.opts.Patience))
			if patience == nil {
				patience = time.NewTimer(wait)
			} else {
				patience.Reset(wait)
			}
			due = patience.C
		}
		m.mu.Unlock()
		select {
		case m.sender <- v:
		case <-m.left:
			m.forget([]T{v})
		case <-h.ctx.Done():
			m.forget([]T{v})
		case <-m.nudge:
			goto send
		case now := <-due:
			m.mu.Lock()
			kick := !m.gone && m.police(now)
			m.mu.Unlock()
			if kick {
				m.kick()
			}
			goto send // the value in hand is the oldest: it still goes first
		}
	}
}

// forget clears values that will not be sent, and what was prepared for
// them on the member's connection. Called under m.mu for the backlog's.
func (m *Member[T]) forget(values []T) {
	var zero T
	for i, v := range values {
		if m.conn != nil && m.hub.codec.elem != nil {
			m.conn.Unprepare(any(v))
		}
		values[i] = zero
	}
}

// kick applies the Disconnect policy: one count, one line, one close code.
func (m *Member[T]) kick() {
	h := m.hub
	h.disconnected.Add(1)
	h.opts.logEvent(slog.LevelWarn, "Member cannot keep up: disconnecting it",
		slog.String("room", m.room), slog.String("member", m.Name), slog.Int("code", ClosePolicyViolation))
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

// watchGroup is how many members one goroutine of the hub's watchers waits
// for, so that a member costs no goroutine of its own.
const watchGroup = park.PairsPerGroup

// doneWatch is a member as the hub's watchers wait for it: on its done
// channel, which makes it leave.
type doneWatch[T any] struct{ m *Member[T] }

// Chans implements park.PairWaiter: the member's done channel, or for a
// connection (JoinConn) the channel that closes at its end, so that the
// hub never takes done's one value from the handler's loop.
func (w doneWatch[T]) Chans() (<-chan bool, <-chan struct{}) {
	if w.m.conn != nil && w.m.conn.Ended() != nil {
		return nil, w.m.conn.Ended()
	}
	return w.m.done, nil
}

// Due implements park.PairWaiter: none.
func (doneWatch[T]) Due() time.Time { return time.Time{} }

// Woke implements park.PairWaiter: done fired, the member leaves.
func (w doneWatch[T]) Woke(park.Wake[bool, struct{}]) { w.m.Leave() }

// watch has a watcher wait on m's done channel.
func (h *Hub[T]) watch(m *Member[T]) {
	m.watched = h.watchers.Park(doneWatch[T]{m})
}

// unwatch takes m off its watcher.
func (h *Hub[T]) unwatch(m *Member[T]) { h.watchers.Unpark(m.watched) }
