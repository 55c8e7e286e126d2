package park

import (
	"cmp"
	"reflect"
	"slices"
	"sync"
)

// Waiter is something parked in Waiters: an idle write loop, or a room's
// member whose done channel the hub watches.
type Waiter interface {
	// Cases appends the select cases it waits on (always as many).
	Cases(dst []reflect.SelectCase) []reflect.SelectCase
	// Woke is called, in the group's goroutine and once the waiter has
	// been taken out, with the case (counted from its first) that fired,
	// as reflect.Select returned it.
	Woke(chosen int, v reflect.Value, ok bool)
}

// Waiters waits for parked Waiters, one goroutine per group of up to
// PerGroup, with reflect.Select over their cases; when a case fires it
// takes that waiter out and hands it what fired, as the waiter's own select
// would have. A group's goroutine returns once the group is empty. Each
// park and wake costs a select over the group's cases: PerGroup keeps it
// small.
type Waiters struct {
	// PerGroup is how many waiters one goroutine waits for. Default: 16.
	PerGroup int
	// CasesEach is how many select cases each waiter has at most: a
	// group's cases are allocated once, for PerGroup waiters. Default: 1.
	CasesEach int

	mu      sync.Mutex
	free    []*group // groups with room
	running sync.WaitGroup
}

// group is up to PerGroup waiters and the goroutine that waits for them.
type group struct {
	mu      sync.Mutex
	waiters []Waiter
	wake    chan struct{} // the set changed
}

func (ws *Waiters) perGroup() int { return cmp.Or(max(ws.PerGroup, 0), 16) }

// Spot is where a waiter is parked, for Unpark.
type Spot struct {
	g *group
	w Waiter
}

// Park has a group wait for w.
func (ws *Waiters) Park(w Waiter) Spot {
	ws.mu.Lock()
	var g *group
	if n := len(ws.free); n > 0 {
		g = ws.free[n-1]
	} else {
		g = &group{wake: make(chan struct{}, 1)}
		ws.free = append(ws.free, g)
		ws.running.Add(1)
		go ws.run(g)
	}
	g.mu.Lock()
	g.waiters = append(g.waiters, w)
	if len(g.waiters) == ws.perGroup() {
		ws.free = ws.free[:len(ws.free)-1]
	}
	g.mu.Unlock()
	ws.mu.Unlock()
	g.signal()
	return Spot{g, w}
}

// Unpark takes the waiter parked at s out, if it is still there, without
// waking it.
func (ws *Waiters) Unpark(s Spot) {
	if s.g == nil {
		return
	}
	ws.mu.Lock()
	ws.remove(s.g, s.w)
	ws.mu.Unlock()
	s.g.signal()
}

// Wait returns once every group's goroutine has returned: call it once
// nothing is parked any more.
func (ws *Waiters) Wait() { ws.running.Wait() }

func (g *group) signal() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// run waits for the group's waiters until none is left.
func (ws *Waiters) run(g *group) {
	defer ws.running.Done()
	const fixed = 1 // the wake case, before the waiters'
	n := ws.perGroup()
	cases := make([]reflect.SelectCase, fixed, fixed+n*max(ws.CasesEach, 1))
	cases[0] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.wake)}
	waiters := make([]Waiter, 0, n)
	first := make([]int, 0, n) // where each waiter's cases start
	for {
		ws.mu.Lock()
		g.mu.Lock()
		if len(g.waiters) == 0 {
			// Retire: under ws.mu, so that no park can pick this group.
			if i := slices.Index(ws.free, g); i >= 0 {
				ws.free = slices.Delete(ws.free, i, i+1)
			}
			g.mu.Unlock()
			ws.mu.Unlock()
			return
		}
		waiters = append(waiters[:0], g.waiters...)
		g.mu.Unlock()
		ws.mu.Unlock()
		cases, first = cases[:fixed], first[:0]
		for _, w := range waiters {
			first = append(first, len(cases))
			cases = w.Cases(cases)
		}
		chosen, v, ok := reflect.Select(cases)
		if chosen < fixed {
			continue
		}
		i, _ := slices.BinarySearch(first, chosen+1)
		w := waiters[i-1]
		ws.mu.Lock()
		ws.remove(g, w)
		ws.mu.Unlock()
		w.Woke(chosen-first[i-1], v, ok)
	}
}

// remove takes w out of g; under ws.mu.
func (ws *Waiters) remove(g *group, w Waiter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	wasFull := len(g.waiters) == ws.perGroup()
	if i := slices.Index(g.waiters, w); i >= 0 {
		g.waiters = slices.Delete(g.waiters, i, i+1) // clears the freed slot
		if wasFull {
			ws.free = append(ws.free, g)
		}
	}
}
