package hub

import (
	"sync"
	"time"
)

// roomHistory is one room's last broadcasts, for members that rejoin
// (JoinConnFrom) and for late joiners (Recent). A broadcast is numbered,
// kept and delivered under mu, so that every member sees a room's
// broadcasts in the order of their offsets.
type roomHistory[T any] struct {
	mu      sync.Mutex
	epoch   string
	next    uint64     // the offset of the next broadcast
	entries []entry[T] // oldest first, from head
	head    int
}

// entry is one kept broadcast.
type entry[T any] struct {
	off uint64
	at  time.Time
	p   *parcel[T]
}

func newRoomHistory[T any]() *roomHistory[T] {
	return &roomHistory[T]{epoch: newEpoch(), next: 1}
}

// add keeps p as the next broadcast, within size entries and ttl, and
// returns its position. Called under hist.mu.
func (r *roomHistory[T]) add(p *parcel[T], now time.Time, size int, ttl time.Duration) {
	r.entries = append(r.entries, entry[T]{off: r.next, at: now, p: p})
	r.next++
	r.trim(now, size, ttl)
}

// trim forgets the entries over size or older than ttl. Called under mu.
func (r *roomHistory[T]) trim(now time.Time, size int, ttl time.Duration) {
	for r.head < len(r.entries) && (len(r.entries)-r.head > size || now.Sub(r.entries[r.head].at) > ttl) {
		r.entries[r.head] = entry[T]{}
		r.head++
	}
	if r.head > len(r.entries)/2 && r.head > 16 {
		// Move the live entries down, so that the array does not grow
		// for ever.
		n := copy(r.entries, r.entries[r.head:])
		clear(r.entries[n:])
		r.entries, r.head = r.entries[:n], 0
	}
}

// live returns the entries kept now. Called under mu.
func (r *roomHistory[T]) live() []entry[T] { return r.entries[r.head:] }

// history returns room's history, creating it when create is set. Called
// under h.mu (read or write).
func (h *Hub[T]) history(room string, create bool) *roomHistory[T] {
	h.histMu.Lock()
	defer h.histMu.Unlock()
	r := h.histories[room]
	if r == nil && create {
		if h.histories == nil {
			h.histories = make(map[string]*roomHistory[T])
		}
		r = newRoomHistory[T]()
		h.histories[room] = r
		if h.sweep == nil {
			h.sweep = time.AfterFunc(h.opts.HistoryTTL, h.sweepHistories)
		}
	}
	return r
}

// sweepHistories forgets the histories whose every entry has expired and
// whose room has no member here, so that a room nobody speaks in costs
// nothing after HistoryTTL; it runs every HistoryTTL while any history is
// kept.
func (h *Hub[T]) sweepHistories() {
	now := time.Now()
	h.mu.RLock() // a room with members keeps its history (and its epoch)
	defer h.mu.RUnlock()
	h.histMu.Lock()
	defer h.histMu.Unlock()
	for room, r := range h.histories {
		r.mu.Lock()
		r.trim(now, h.opts.History, h.opts.HistoryTTL)
		empty := len(r.live()) == 0
		r.mu.Unlock()
		if _, members := h.rooms[room]; empty && !members {
			delete(h.histories, room)
		}
	}
	if len(h.histories) == 0 || h.ctx.Err() != nil {
		h.sweep = nil
		return
	}
	h.sweep.Reset(h.opts.HistoryTTL)
}
