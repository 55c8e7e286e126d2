package hub

import (
	"reflect"
	"slices"
	"sync"
)

// watchGroup is how many members one watcher goroutine serves.
const watchGroup = 64

// watcher is a goroutine waiting on the done channels of up to watchGroup
// members, so that a member costs no goroutine of its own.
type watcher[T any] struct {
	mu      sync.Mutex
	members []*Member[T]
	wake    chan struct{} // the member set changed
	stop    chan struct{} // closed when the watcher is empty and retired
}

// watch has a watcher wait on m's done channel.
func (h *Hub[T]) watch(m *Member[T]) {
	h.watchMu.Lock()
	var w *watcher[T]
	if n := len(h.free); n > 0 {
		w = h.free[n-1]
	} else {
		w = &watcher[T]{wake: make(chan struct{}, 1), stop: make(chan struct{})}
		h.free = append(h.free, w)
		h.wg.Add(1)
		go w.run(h)
	}
	w.mu.Lock()
	w.members = append(w.members, m)
	full := len(w.members) == watchGroup
	w.mu.Unlock()
	m.watcher = w
	if full {
		h.free = h.free[:len(h.free)-1]
	}
	h.watchMu.Unlock()
	w.signal()
}

// unwatch takes m off its watcher, and retires the watcher once empty.
func (h *Hub[T]) unwatch(m *Member[T]) {
	h.watchMu.Lock()
	defer h.watchMu.Unlock()
	w := m.watcher
	w.mu.Lock()
	wasFull := len(w.members) == watchGroup
	if i := slices.Index(w.members, m); i >= 0 {
		w.members = slices.Delete(w.members, i, i+1) // clears the freed slot
	}
	empty := len(w.members) == 0
	w.mu.Unlock()
	switch {
	case empty:
		if i := slices.Index(h.free, w); i >= 0 {
			h.free = slices.Delete(h.free, i, i+1)
		}
		close(w.stop)
	case wasFull:
		h.free = append(h.free, w)
		w.signal()
	default:
		w.signal()
	}
}

func (w *watcher[T]) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run waits for any of its members' done channels, and makes that member
// leave.
func (w *watcher[T]) run(h *Hub[T]) {
	defer h.wg.Done()
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.stop)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(h.ctx.Done())},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.wake)},
	}
	const fixed = 3
	var members []*Member[T]
	for {
		w.mu.Lock()
		members = append(members[:0], w.members...)
		w.mu.Unlock()
		cases = cases[:fixed]
		for _, m := range members {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(m.done)})
		}
		chosen, _, _ := reflect.Select(cases)
		switch {
		case chosen < 2:
			return
		case chosen == 2:
			continue
		default:
			members[chosen-fixed].Leave()
		}
	}
}
