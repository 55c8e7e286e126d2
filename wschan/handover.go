package wschan

import "time"

// DoneGrace bounds how long a connection's error channel stays open after
// done fired while the handler has neither taken done's value nor
// returned: a handler that ranges over the error channel and never reads
// done gets the cause, if any, then the channel closed within DoneGrace.
// See Conn.Error.
const DoneGrace = 5 * time.Second

// handOver closes done and the error channel once the handler has seen the
// end: when it has taken done's value (or another receiver has), when it
// has returned, or DoneGrace after done fired, whichever comes first.
//
// Why not at once, as the original did: most programs copied the
// original's README loop, a select whose error branch logs and goes on and
// whose done branch returns. The cause wakes that loop first; were the
// error channel closed while its error branch runs, the next select would
// find done ready and the closed error channel ready too, and run the
// error branch again with a nil error, as often as the select chose it.
// While done's value waits, the open, empty error channel is never ready,
// so that loop takes done and returns; only then is the error channel
// closed, for a handler that reads it after done (`<-c.Error`) or ranges
// over it.
//
// Done's capacity is the original's (3), so that its value is taken is
// seen by its length, checked at intervals that start at 20 us and double
// up to 10 ms: a handler in the loop above takes done within microseconds
// of the end, and a handler that reads the error channel after done waits
// at most one interval more. It runs on the write loop's goroutine, after
// the connection's end, and returns as soon as the handler does.
func (p *pump) handOver() {
	select {
	case <-p.returned:
	default:
		awaitTaken(p.conn.Done, p.returned)
	}
	close(p.conn.Done)
	close(p.conn.Error)
}

// awaitTaken returns once done's value has been taken, returned is closed
// (the handler has returned), or DoneGrace has passed.
func awaitTaken(done chan bool, returned <-chan struct{}) {
	interval := 20 * time.Microsecond
	t := time.NewTimer(interval)
	defer t.Stop()
	giveUp := time.Now().Add(DoneGrace)
	for len(done) > 0 && time.Now().Before(giveUp) {
		select {
		case <-returned:
			return
		case <-t.C:
		}
		interval = min(2*interval, 10*time.Millisecond)
		t.Reset(interval)
	}
}
