package wschan

import (
	"sync/atomic"
	"time"
)

// Stats are a connection's figures at one moment (Connection.Stats).
type Stats struct {
	// MessagesIn and BytesIn count the messages read from the peer (each
	// counted once read whole) and their payload bytes.
	MessagesIn, BytesIn int64
	// MessagesOut and BytesOut count the messages written to the peer and
	// their payload bytes.
	MessagesOut, BytesOut int64
	// Receiving is how many values wait in the receiver for the handler;
	// Sending how many wait in the sender to be written.
	Receiving, Sending int
	// RTT is the round trip of the last ping the server sent and the
	// peer answered; 0 until one is.
	RTT time.Duration
	// ConnectedAt is when the connection was upgraded.
	ConnectedAt time.Time
	// ReadParks and WriteParks count the times the read loop and the
	// write loop gave up their goroutine while idle (Options.ParkAfter).
	// ReadParks staying 0 on an idle connection means read parking is
	// off for it (not Linux, or a socket behind a wrapper that hides it).
	ReadParks, WriteParks int64
}

// counters are the live figures behind Stats: atomics, so that the message
// path takes no lock and Stats can be read from any goroutine.
type counters struct {
	msgsIn, bytesIn   atomic.Int64
	msgsOut, bytesOut atomic.Int64
	rtt               atomic.Int64
	readParks         atomic.Int64
	writeParks        atomic.Int64
	born              time.Time
	pending           func() (receiving, sending int) // the box's channel lengths
}

func (c *counters) read(n int) {
	c.msgsIn.Add(1)
	c.bytesIn.Add(int64(n))
}

func (c *counters) wrote(n int) {
	c.msgsOut.Add(1)
	c.bytesOut.Add(int64(n))
}

// Stats returns the connection's figures: messages and bytes both ways,
// values waiting in the receiver and the sender, the last ping's round
// trip, and when it connected. It is cheap (a few atomic loads) and safe
// to call from any goroutine, during the connection and after it.
func (c *Connection) Stats() Stats {
	s := Stats{
		MessagesIn: c.stats.msgsIn.Load(), BytesIn: c.stats.bytesIn.Load(),
		MessagesOut: c.stats.msgsOut.Load(), BytesOut: c.stats.bytesOut.Load(),
		RTT: time.Duration(c.stats.rtt.Load()), ConnectedAt: c.stats.born,
		ReadParks: c.stats.readParks.Load(), WriteParks: c.stats.writeParks.Load(),
	}
	if c.stats.pending != nil {
		s.Receiving, s.Sending = c.stats.pending()
	}
	return s
}
