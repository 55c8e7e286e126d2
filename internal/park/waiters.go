package park

import (
	"cmp"
	"reflect"
	"slices"
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
// park and wake costs a select over the group's cases, and reflect.Select
// allocates for each (its copies, a value for each receive): PerGroup keeps
// it small. Waiters whose cases are two receives of static types wait
// without either cost in Pairs.
type Waiters struct {
	// PerGroup is how many waiters one goroutine waits for. Default: 16.
	PerGroup int
	// CasesEach is how many select cases each waiter has at most: a
	// group's cases are allocated once, for PerGroup waiters. Default: 1.
	CasesEach int

	groups groups[Waiter]
}

func (ws *Waiters) perGroup() int { return cmp.Or(max(ws.PerGroup, 0), 16) }

// Spot is where a waiter is parked, for Unpark.
type Spot struct {
	g *group[Waiter]
	w Waiter
}

// Park has a group wait for w.
func (ws *Waiters) Park(w Waiter) Spot {
	return Spot{ws.groups.park(w, ws.perGroup(), ws.run), w}
}

// Unpark takes the waiter parked at s out, if it is still there, without
// waking it.
func (ws *Waiters) Unpark(s Spot) {
	if s.g != nil {
		ws.groups.unpark(s.g, s.w)
	}
}

// Stop has the group wake the waiter parked at s with Stopped, unless the
// group takes it out first for one of its cases (or its time): a waiter
// that waits on no channel of the one who stops it is thus woken, exactly
// once, and nothing its cases yielded is lost.
func (ws *Waiters) Stop(s Spot) {
	if s.g != nil {
		ws.groups.stop(s.g, s.w)
	}
}

// Wait returns once every group's goroutine has returned: call it once
// nothing is parked any more.
func (ws *Waiters) Wait() { ws.groups.running.Wait() }

// due is w's time, if it is Timed.
func due(w Waiter) time.Time {
	if t, ok := w.(Timed); ok {
		return t.Due()
	}
	return time.Time{}
}

// run waits for the group's waiters until none is left.
func (ws *Waiters) run(g *group[Waiter]) {
	var frame [groupFrame]byte // see groupFrame
	holdFrame(&frame)
	// The fixed cases, before the waiters': the set changed; the earliest
	// Due of the group's Timed waiters came (no channel while none waits).
	const caseWake, caseDue, fixed = 0, 1, 2
	n := ws.perGroup()
	cases := make([]reflect.SelectCase, fixed, fixed+n*max(ws.CasesEach, 1))
	cases[caseWake] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.wake)}
	cases[caseDue].Dir = reflect.SelectRecv
	var timer groupTimer // made once a waiter is Timed
	defer timer.stop()
	waiters := make([]Waiter, 0, n)
	first := make([]int, 0, n) // where each waiter's cases start
	stopped := wokeWith(Stopped)
	for {
		var ok bool
		if waiters, ok = ws.groups.next(g, waiters, stopped); !ok {
			return
		}
		cases, first = cases[:fixed], first[:0]
		for _, w := range waiters {
			first = append(first, len(cases))
			cases = w.Cases(cases)
		}
		cases[caseDue].Chan = reflect.Value{} // ignored by Select
		if c := timer.at(earliest(waiters, due)); c != nil {
			cases[caseDue].Chan = reflect.ValueOf(c)
		}
		chosen, v, ok := reflect.Select(cases)
		switch {
		case chosen == caseDue:
			ws.groups.wakeEach(g, dueNow(waiters, due), wokeWith(Timeout))
			continue
		case chosen < fixed:
			continue
		}
		i, _ := slices.BinarySearch(first, chosen+1)
		w := waiters[i-1]
		ws.groups.takeOut(g, w)
		w.Woke(chosen-first[i-1], v, ok)
	}
}

// wokeWith returns a wake of a Waiter with chosen (Timeout or Stopped).
func wokeWith(chosen int) func(Waiter) {
	return func(w Waiter) { w.Woke(chosen, reflect.Value{}, false) }
}
