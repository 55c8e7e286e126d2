package park

import (
	"cmp"
	"reflect"
	"slices"
	"sync"
	"time"
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

// Timed is a Waiter that also waits for a time: Due is when (the zero time:
// none). Its group keeps one timer for all its waiters, and hands a waiter
// whose time has come Woke(Timeout, reflect.Value{}, false). A waiter's
// timer thus costs no timer and no select case of its own while parked.
// Due is read while the waiter is parked, in the group's goroutine.
type Timed interface {
	Waiter
	Due() time.Time
}

// The cases Woke is given besides the waiter's own.
const (
	Timeout = -1 // a Timed waiter's time has come
	Stopped = -2 // Stop was called for it
)

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
	stops   []Waiter      // Stop was called for these
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
	ws.takeOut(s.g, s.w)
	s.g.signal()
}

// Stop has the group wake the waiter parked at s with Stopped, unless the
// group takes it out first for one of its cases (or its time): a waiter
// that waits on no channel of the one who stops it is thus woken, exactly
// once, and nothing its cases yielded is lost.
func (ws *Waiters) Stop(s Spot) {
	if s.g == nil {
		return
	}
	s.g.mu.Lock()
	s.g.stops = append(s.g.stops, s.w)
	s.g.mu.Unlock()
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

// groupFrame is stack room a group's goroutine holds for its life, so that
// its stack is 8 KiB from the start and stays so. Why: the goroutine
// outlives the parked connections' loops, whose small stacks were made
// beside its own; were its stack small, it would keep a whole 32 KiB span
// of their freed stacks in use for as long as the group lives (stacks are
// handed out in spans of one size, and a span goes back only once all of
// it is free). An 8 KiB stack shares its spans with the handlers' stacks,
// which live as long, and costs a quarter of that. Measured with 2000 idle
// connections (bench BenchmarkIdle, stack-B/conn): 9.3 KB without, 8.55
// KB with, against 8.19 KB for the handler's stack alone.
const groupFrame = 4 << 10

// holdFrame keeps frame on the caller's stack (the compiler sees it used).
//
//go:noinline
func holdFrame(frame *[groupFrame]byte) { frame[0] = 1 }

// run waits for the group's waiters until none is left.
func (ws *Waiters) run(g *group) {
	defer ws.running.Done()
	var frame [groupFrame]byte // see groupFrame
	holdFrame(&frame)
	// The fixed cases, before the waiters': the set changed; the earliest
	// Due of the group's Timed waiters came (no channel while none waits).
	const caseWake, caseDue, fixed = 0, 1, 2
	n := ws.perGroup()
	cases := make([]reflect.SelectCase, fixed, fixed+n*max(ws.CasesEach, 1))
	cases[caseWake] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.wake)}
	cases[caseDue].Dir = reflect.SelectRecv
	var timer *time.Timer // made once a waiter is Timed
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
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
		stops := g.stops
		g.stops = nil
		waiters = append(waiters[:0], g.waiters...)
		g.mu.Unlock()
		ws.mu.Unlock()
		if len(stops) > 0 {
			ws.wakeStopped(g, stops)
			continue
		}
		cases, first = cases[:fixed], first[:0]
		var due time.Time
		for _, w := range waiters {
			first = append(first, len(cases))
			cases = w.Cases(cases)
			if t, ok := w.(Timed); ok {
				if d := t.Due(); !d.IsZero() && (due.IsZero() || d.Before(due)) {
					due = d
				}
			}
		}
		cases[caseDue].Chan = reflect.Value{} // ignored by Select
		if !due.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(due))
			} else {
				timer.Reset(time.Until(due))
			}
			cases[caseDue].Chan = reflect.ValueOf(timer.C)
		}
		chosen, v, ok := reflect.Select(cases)
		switch {
		case chosen == caseDue:
			ws.wakeDue(g, waiters)
			continue
		case chosen < fixed:
			continue
		}
		i, _ := slices.BinarySearch(first, chosen+1)
		w := waiters[i-1]
		ws.takeOut(g, w)
		w.Woke(chosen-first[i-1], v, ok)
	}
}

// wakeStopped takes out and wakes, with Stopped, each of stops still in g.
func (ws *Waiters) wakeStopped(g *group, stops []Waiter) {
	for _, w := range stops {
		ws.wakeWith(g, w, Stopped)
	}
}

// wakeDue takes out and wakes, with Timeout, each of g's Timed waiters
// whose time has come.
func (ws *Waiters) wakeDue(g *group, waiters []Waiter) {
	now := time.Now()
	for _, w := range waiters {
		t, ok := w.(Timed)
		if !ok {
			continue
		}
		if d := t.Due(); !d.IsZero() && !d.After(now) {
			ws.wakeWith(g, w, Timeout)
		}
	}
}

// wakeWith takes w out of g and wakes it with chosen (Timeout or Stopped),
// unless it is no longer there.
func (ws *Waiters) wakeWith(g *group, w Waiter, chosen int) {
	if ws.takeOut(g, w) {
		w.Woke(chosen, reflect.Value{}, false)
	}
}

// takeOut is remove under ws.mu.
func (ws *Waiters) takeOut(g *group, w Waiter) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.remove(g, w)
}

// remove takes w out of g, if it is there, and reports whether it was;
// under ws.mu.
func (ws *Waiters) remove(g *group, w Waiter) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	wasFull := len(g.waiters) == ws.perGroup()
	i := slices.Index(g.waiters, w)
	if i < 0 {
		return false
	}
	g.waiters = slices.Delete(g.waiters, i, i+1) // clears the freed slot
	if wasFull {
		ws.free = append(ws.free, g)
	}
	return true
}
