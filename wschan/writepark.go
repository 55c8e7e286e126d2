package wschan

import (
	"time"

	"github.com/go-macaron/sockets/internal/park"
)

// writeParker parks the idle write loops of an endpoint's connections: a
// writersOf the type its senders carry (a string, a byte slice, Handler's
// T; a pointer for the Macaron front's JSON channels of *T, made by
// reflection). The endpoint does not name that type, so this interface
// does.
type writeParker interface {
	park(p *pump) park.PairSpot
	stop(s park.PairSpot)
}

// writersOf parks write loops whose sender carries T, in groups whose
// goroutine waits on their senders and disconnect channels with a select
// statement (park.Pairs): a park or wake allocates nothing.
type writersOf[T any] struct{ pairs park.Pairs[T, int] }

func (w *writersOf[T]) park(p *pump) park.PairSpot { return w.pairs.Park((*writeWaiter[T])(p)) }
func (w *writersOf[T]) stop(s park.PairSpot)       { w.pairs.Stop(s) }

// writeWaiter is a pump as its parked write loop waits, for a sender of T:
// the same memory, typed for park.Pairs, so that parking makes no value of
// its own.
type writeWaiter[T any] pump

// sendBox is a box whose sender the parker can wait on as a channel of T,
// and which stages what it yields.
type sendBox[T any] interface {
	sendChan() <-chan T
	stage(v T)
}

// Chans implements park.PairWaiter: what the write loop's wait selects on
// besides its timer (the parker's: Due) and its stop (finish stops it).
func (w *writeWaiter[T]) Chans() (<-chan T, <-chan int) {
	p := (*pump)(w)
	return p.box.(sendBox[T]).sendChan(), p.ev.disconnect
}

// Due implements park.PairWaiter: when the write loop's timer would fire.
func (w *writeWaiter[T]) Due() time.Time { return (*pump)(w).due() }

// Woke implements park.PairWaiter: it maps what fired to the event the
// loop's own wait would have returned, and resumes the loop with it.
func (w *writeWaiter[T]) Woke(wk park.Wake[T, int]) {
	p := (*pump)(w)
	var e event
	switch wk.Case {
	case park.CaseA:
		if !wk.OK {
			e = evSenderClosed
			break
		}
		p.box.(sendBox[T]).stage(wk.A)
		e = evValue
	case park.CaseB:
		p.ev.code = wk.B // 0 from a closed channel, as wait reads it
		e = evDisconnect
	case park.Timeout:
		e = evTimer
	default: // park.Stopped
		e = evStop
	}
	p.wokeWrite(e)
}
