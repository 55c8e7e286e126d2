// Package park lets an idle WebSocket connection give up the goroutines of
// its read and write loops, and get them back at its next event, exactly as
// if they had waited. It is the whole of parking, behind one interface the
// connection implements (Conn); the connection turns it off by not calling
// it (wschan.Options.ParkAfter < 0).
//
// The write side: Waiters waits, in one goroutine per group of connections
// (32 for wschan's write loops), on the channels each parked write loop
// would wait on (reflect.Select over the cases it gives: the sender and the
// disconnect channel), on one timer per group for all their pings and
// silence checks (Timed), and for Stop, which the connection's end calls
// instead of a case on its context; it resumes the loop with what fired.
// The hub waits on its members' done channels with it too. The read side, on
// Linux: the Gate under the transport's reads answers ErrPark when the
// socket has been idle between two messages; the read loop hands the
// socket to Readers (an epoll set waited for through the runtime's poller)
// and returns, and Readers starts it again when the socket is readable.
// Elsewhere the Gate is never enabled.
package park

// Conn is what the parkers need of a connection.
type Conn interface {
	// A Conn is parked in Waiters as its idle write loop: its cases are
	// what the loop waits on, and Woke resumes the loop, in a new
	// goroutine, with what fired.
	Waiter
	// Ending reports whether the connection is ending: its read loop must
	// not park then.
	Ending() bool
	// ReadWoke starts the read loop again, in a new goroutine.
	ReadWoke()
}
