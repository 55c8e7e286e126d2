// Package park lets an idle WebSocket connection give up the goroutines of
// its read and write loops, and get them back at its next event, exactly as
// if they had waited. It is the whole of parking, behind one interface the
// connection implements (Conn); the connection turns it off by not calling
// it (wschan.Options.ParkAfter < 0).
//
// The write side: Writers waits, in one goroutine per group of up to 16
// connections, on what each parked write loop would wait on (reflect.Select
// over the cases the connection gives), and resumes the loop with what
// fired. The read side, on Linux: the Gate sits under the transport's reads
// and answers ErrPark when the socket has been idle for a while between two
// frames at the start of a message; the read loop then hands the socket to
// Readers, an epoll set waited for through the runtime's poller, and
// returns; Readers starts the read loop again when the socket is readable.
// Elsewhere the Gate is never enabled and Readers never parks.
package park

import "reflect"

// Conn is what the parkers need of a connection.
type Conn interface {
	// WriteCases appends the WriteCases select cases its idle write loop
	// waits on.
	WriteCases(dst []reflect.SelectCase) []reflect.SelectCase
	// WriteWoke resumes the write loop, in a new goroutine, with the case
	// (0 to WriteCases-1) that fired, as reflect.Select returned it.
	WriteWoke(chosen int, v reflect.Value, ok bool)
	// Ending reports whether the connection is ending: its read loop must
	// not park then.
	Ending() bool
	// ReadWoke starts the read loop again, in a new goroutine.
	ReadWoke()
}

// WriteCases is how many select cases a parked write loop waits on.
const WriteCases = 4
