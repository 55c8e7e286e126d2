// Package park lets an idle WebSocket connection give up the goroutines of
// its read and write loops, and get them back at its next event, exactly as
// if they had waited. The connection turns it off by not calling it
// (wschan.Options.ParkAfter < 0).
//
// The write side: Pairs waits, in one goroutine per group of 32
// connections, on the two channels each parked write loop would wait on
// (the sender and the disconnect channel) with one select statement over
// their arrays, on one timer per group for all their pings and silence
// checks (Due), and for Stop, which the connection's end calls instead of a
// case on its context; it resumes the loop with what fired. The hub waits
// on its members' done channels with it too. The read side, on Linux: the Gate under the transport's reads answers ErrPark
// when the socket has been idle between two messages; the read loop hands
// the socket to Readers (an epoll set waited for through the runtime's
// poller) and returns, and Readers starts it again when the socket is
// readable. Elsewhere the Gate is never enabled.
package park

// Conn is what the read parker needs of a connection.
type Conn interface {
	// Ending reports whether the connection is ending: its read loop must
	// not park then.
	Ending() bool
	// ReadWoke starts the read loop again, in a new goroutine.
	ReadWoke()
}
