package park

import "time"

//go:generate go run gen_pairs.go

// PairsPerGroup is how many waiters one goroutine of Pairs waits for: a
// wake costs its group a select over 66 cases, and larger groups cost more
// per wake (with reflect.Select, measured: 2.5 us per wake at 16 waiters of
// two cases, 3.3 at 32, 7.1 at 64, 12.8 at 128) and fewer goroutines.
const PairsPerGroup = 32

// Pairs waits for parked PairWaiters, each waiting for a receive from a
// channel of A and one of B (wschan's idle write loops: the sender, the
// disconnect channel; the hub's members: done, or the connection's end),
// in groups of PairsPerGroup whose goroutine waits with one select
// statement over fixed arrays of their channels (generated:
// pairs_select.go): Woke is called once, in the group's goroutine, with what
// fired; a Stop wakes exactly once and never loses what a channel yielded;
// one timer per group serves the waiters' Due. A park or a wake allocates
// nothing. (Its forerunner waited with reflect.Select over any cases, which
// allocates its copies and a value for every receive at each call: a
// group's last ones, kept in use among the garbage of the others, held 1 KB
// of heap spans per idle connection, and a wake cost 3.1 us against 1.4.)
type Pairs[A, B any] struct {
	groups groups
}

// PairWaiter is something parked in Pairs.
type PairWaiter[A, B any] interface {
	// Chans returns the channels it waits on; either may be nil (never
	// ready). Read while it is parked, in the group's goroutine.
	Chans() (<-chan A, <-chan B)
	// Due is when its time comes (the zero time: never); read as Chans.
	Due() time.Time
	// Woke is called, in the group's goroutine and once the waiter has
	// been taken out, with what fired.
	Woke(Wake[A, B])
}

// Wake is what woke a PairWaiter.
type Wake[A, B any] struct {
	Case int // CaseA, CaseB, Timeout or Stopped
	A    A   // received, for CaseA
	B    B   // received, for CaseB
	OK   bool
}

// The cases of a Wake.
const (
	CaseA   = 0  // a receive from the channel of A (OK: not closed)
	CaseB   = 1  // a receive from the channel of B (OK: not closed)
	Timeout = -1 // the waiter's Due has come
	Stopped = -2 // Stop was called for it
)

// PairSpot is where a PairWaiter is parked, for Stop.
type PairSpot struct {
	g *group
	w any
}

// Park has a group wait for w.
func (ps *Pairs[A, B]) Park(w PairWaiter[A, B]) PairSpot {
	g, fresh := ps.groups.park(w)
	if fresh {
		go ps.run(g)
	}
	return PairSpot{g, w}
}

// Unpark takes the waiter parked at s out, if it is still there, without
// waking it.
func (ps *Pairs[A, B]) Unpark(s PairSpot) {
	if s.g != nil {
		ps.groups.unpark(s.g, s.w)
	}
}

// Stop has the group wake the waiter parked at s with Stopped, unless the
// group takes it out first for a value of its channels (or its time): it
// is woken exactly once, and nothing its channels yielded is lost.
func (ps *Pairs[A, B]) Stop(s PairSpot) {
	if s.g != nil {
		ps.groups.stop(s.g, s.w)
	}
}

// Wait returns once every group's goroutine has returned: call it once
// nothing is parked any more.
func (ps *Pairs[A, B]) Wait() { ps.groups.running.Wait() }

// pairsFrame is what a Pairs group's goroutine holds on its stack besides
// its select (about 2 KiB: 66 cases, the channels' arrays, its waiters), so
// that its stack is 8 KiB from the start and stays so. Why: the goroutine
// outlives the parked connections' loops, whose small stacks were made
// beside its own; were its stack small, it would keep a whole 32 KiB span
// of their freed stacks in use for as long as the group lives (stacks are
// handed out in spans of one size, and a span goes back only once all of
// it is free). An 8 KiB stack shares its spans with the handlers' stacks,
// which live as long, and costs a quarter of that (measured with 2000 idle
// connections, bench BenchmarkIdle's stack-B/conn: 9.3 KB a connection
// with a small stack, 8.0 with 8 KiB, against 8.2 for raw coder's).
const pairsFrame = 2 << 10

// holdPairsFrame keeps frame on the caller's stack.
//
//go:noinline
func holdPairsFrame(frame *[pairsFrame]byte) { frame[0] = 1 }

// run waits for the group's waiters until none is left.
func (ps *Pairs[A, B]) run(g *group) {
	defer ps.groups.running.Done()
	var frame [pairsFrame]byte // see pairsFrame
	holdPairsFrame(&frame)
	var timer groupTimer // made once a waiter has a Due
	defer timer.stop()
	var room [PairsPerGroup]any
	var typed [PairsPerGroup]PairWaiter[A, B]
	waiters := room[:0]
	var as [PairsPerGroup]<-chan A
	var bs [PairsPerGroup]<-chan B
	stopped := wokePair[A, B](Stopped)
	for {
		var ok bool
		if waiters, ok = ps.groups.next(g, waiters, stopped); !ok {
			return
		}
		var due time.Time // the earliest Due of the group's waiters
		for i := range as {
			as[i], bs[i], typed[i] = nil, nil, nil
			if i < len(waiters) {
				typed[i] = waiters[i].(PairWaiter[A, B])
				as[i], bs[i] = typed[i].Chans()
				if d := typed[i].Due(); !d.IsZero() && (due.IsZero() || d.Before(due)) {
					due = d
				}
			}
		}
		i, wake := waitPairs(g.wake, timer.at(due), &as, &bs)
		switch i {
		case pairsWoken:
			continue
		case pairsDue:
			now := time.Now()
			for _, w := range typed[:len(waiters)] {
				if d := w.Due(); !d.IsZero() && !d.After(now) && ps.groups.takeOut(g, w) {
					w.Woke(Wake[A, B]{Case: Timeout})
				}
			}
			continue
		}
		w := typed[i]
		ps.groups.takeOut(g, w)
		w.Woke(wake)
	}
}

// What waitPairs returns for its fixed cases, rather than a waiter's index.
const (
	pairsWoken = -1 // the group's set changed, or a stop
	pairsDue   = -2 // the group's timer fired
)

// wokePair returns a wake of a PairWaiter with c (Timeout or Stopped).
func wokePair[A, B any](c int) func(any) {
	return func(w any) { w.(PairWaiter[A, B]).Woke(Wake[A, B]{Case: c}) }
}
