package hub

import "reflect"

// watchGroup is how many members one goroutine of the hub's watchers waits
// for, so that a member costs no goroutine of its own.
const watchGroup = 64

// doneWatch is a member as the hub's watchers wait for it: on its done
// channel, which makes it leave.
type doneWatch[T any] struct{ m *Member[T] }

// Cases implements park.Waiter: the member's done channel.
func (w doneWatch[T]) Cases(dst []reflect.SelectCase) []reflect.SelectCase {
	return append(dst, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.m.done)})
}

// Woke implements park.Waiter: done fired, the member leaves.
func (w doneWatch[T]) Woke(int, reflect.Value, bool) { w.m.Leave() }

// watch has a watcher wait on m's done channel.
func (h *Hub[T]) watch(m *Member[T]) {
	m.watched = h.watchers.Park(doneWatch[T]{m})
}

// unwatch takes m off its watcher.
func (h *Hub[T]) unwatch(m *Member[T]) { h.watchers.Unpark(m.watched) }
