package wschan

import (
	"sync"
	"time"
)

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
// Nobody waits for it: the write loop starts it once done fired
// (startHandOver) and returns, the handler's return closes the channels
// (returned), and while the handler runs on, a timer watches done. Done's
// capacity is the original's (3), so that its value is taken is seen by
// its length, checked at intervals that start at 20 us and double up to
// 10 ms: a handler in the loop above takes done within microseconds of the
// end and returns, which stops the timer before it fires; a handler that
// reads the error channel after done waits at most one interval more.
type handOver struct {
	done chan bool
	errs chan error

	mu       sync.Mutex
	closed   bool        // done and errs are closed
	timer    *time.Timer // the next check of done, while not closed
	interval time.Duration
	giveUp   time.Time // done fired DoneGrace before
}

// Intervals of the hand-over's checks of done.
const (
	firstHandOverCheck = 20 * time.Microsecond
	maxHandOverCheck   = 10 * time.Millisecond
)

// startHandOver starts the hand-over of done and errs, once done has fired:
// it closes them at once if done's value is taken already, and otherwise
// checks again later.
func startHandOver(done chan bool, errs chan error) *handOver {
	h := &handOver{done: done, errs: errs}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(done) == 0 {
		h.closeLocked()
		return h
	}
	h.interval, h.giveUp = firstHandOverCheck, time.Now().Add(DoneGrace)
	h.timer = time.AfterFunc(h.interval, h.check)
	return h
}

// check closes the channels if done's value has been taken or DoneGrace has
// passed, and otherwise checks again after a longer interval.
func (h *handOver) check() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if len(h.done) > 0 && time.Now().Before(h.giveUp) {
		h.interval = min(2*h.interval, maxHandOverCheck)
		h.timer.Reset(h.interval)
		return
	}
	h.closeLocked()
}

// returned closes the channels, unless closed already: the handler has
// returned.
func (h *handOver) returned() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.timer.Stop()
	h.closeLocked()
}

func (h *handOver) closeLocked() {
	h.closed = true
	close(h.done)
	close(h.errs)
}

// awaitTaken returns once done's value has been taken, returned is closed
// (the handler has returned), or DoneGrace has passed: the hand-over of a
// goroutine that has nothing else to do (a dialled connection's, a
// reconnecting client's).
func awaitTaken(done chan bool, returned <-chan struct{}) {
	interval := firstHandOverCheck
	t := time.NewTimer(interval)
	defer t.Stop()
	giveUp := time.Now().Add(DoneGrace)
	for len(done) > 0 && time.Now().Before(giveUp) {
		select {
		case <-returned:
			return
		case <-t.C:
		}
		interval = min(2*interval, maxHandOverCheck)
		t.Reset(interval)
	}
}
