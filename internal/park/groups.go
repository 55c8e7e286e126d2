package park

import (
	"slices"
	"sync"
	"time"
)

// groups is Pairs' bookkeeping: its waiters in groups of PairsPerGroup,
// each waited for by one goroutine of its own, which returns once its group
// is empty. A group with room is in free; park fills the newest first. It
// holds waiters as any, so that a PairSpot need not name Pairs' types.
type groups struct {
	mu      sync.Mutex
	free    []*group // groups with room
	running sync.WaitGroup
}

// group is up to PairsPerGroup waiters and the goroutine that waits for
// them.
type group struct {
	mu      sync.Mutex
	waiters []any
	stops   []any         // Stop was called for these
	wake    chan struct{} // the set changed
}

// park puts w in a group with room, or in a new one, and wakes that
// group's goroutine; fresh reports a new group, whose goroutine the caller
// starts (counted in running already; it calls running.Done as it returns).
func (gs *groups) park(w any) (g *group, fresh bool) {
	gs.mu.Lock()
	if n := len(gs.free); n > 0 {
		g = gs.free[n-1]
	} else {
		g, fresh = &group{wake: make(chan struct{}, 1)}, true
		gs.free = append(gs.free, g)
		gs.running.Add(1)
	}
	g.mu.Lock()
	g.waiters = append(g.waiters, w)
	if len(g.waiters) == PairsPerGroup {
		gs.free = gs.free[:len(gs.free)-1]
	}
	g.mu.Unlock()
	gs.mu.Unlock()
	g.signal()
	return g, fresh
}

// unpark takes w out of g, if it is still there, without waking it.
func (gs *groups) unpark(g *group, w any) {
	gs.takeOut(g, w)
	g.signal()
}

// stop has g wake w with Stopped, unless g takes it out first for one of
// its cases (or its time): a waiter that waits on no channel of the one who
// stops it is thus woken, exactly once, and nothing its cases yielded is
// lost.
func (gs *groups) stop(g *group, w any) {
	g.mu.Lock()
	g.stops = append(g.stops, w)
	g.mu.Unlock()
	g.signal()
}

func (g *group) signal() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// next is the top of a group's loop: it wakes (with stopped) the waiters
// Stop was called for since the last time, then copies g's waiters into
// into. It reports false, once g is empty, having retired g (under gs.mu,
// so that no park picks it): its goroutine then returns.
func (gs *groups) next(g *group, into []any, stopped func(any)) (waiters []any, ok bool) {
	for {
		waiters, stops, ok := gs.take(g, into)
		if !ok || len(stops) == 0 {
			return waiters, ok
		}
		gs.wakeEach(g, stops, stopped)
	}
}

// take copies g's waiters into into and takes its stops, or retires g
// once it is empty (see next).
func (gs *groups) take(g *group, into []any) (waiters, stops []any, ok bool) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiters) == 0 {
		if i := slices.Index(gs.free, g); i >= 0 {
			gs.free = slices.Delete(gs.free, i, i+1)
		}
		return into, nil, false
	}
	stops, g.stops = g.stops, nil
	return append(into[:0], g.waiters...), stops, true
}

// wakeEach takes out and wakes (with wake) each of ws still in g.
func (gs *groups) wakeEach(g *group, ws []any, wake func(any)) {
	for _, w := range ws {
		if gs.takeOut(g, w) {
			wake(w)
		}
	}
}

// groupTimer is a group's one timer for all its waiters' times.
type groupTimer struct{ t *time.Timer }

// at sets the timer for when (the zero time: none) and returns the channel
// to wait on, nil for none.
func (gt *groupTimer) at(when time.Time) <-chan time.Time {
	if when.IsZero() {
		return nil
	}
	if gt.t == nil {
		gt.t = time.NewTimer(time.Until(when))
	} else {
		gt.t.Reset(time.Until(when))
	}
	return gt.t.C
}

func (gt *groupTimer) stop() {
	if gt.t != nil {
		gt.t.Stop()
	}
}

// takeOut takes w out of g, if it is there, and reports whether it was.
func (gs *groups) takeOut(g *group, w any) bool {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	wasFull := len(g.waiters) == PairsPerGroup
	i := slices.Index(g.waiters, w)
	if i < 0 {
		return false
	}
	g.waiters = slices.Delete(g.waiters, i, i+1) // clears the freed slot
	if wasFull {
		gs.free = append(gs.free, g)
	}
	return true
}
