package sockets

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
}

// counters are the live figures behind Stats: atomics, so that the message
// path takes no lock and Stats can be read from any goroutine.
type counters struct {
	msgsIn, bytesIn   atomic.Int64
	msgsOut, bytesOut atomic.Int64
	rtt               atomic.Int64
	parks             atomic.Int64 // times the read loop parked (tests read it)
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
	}
	if c.stats.pending != nil {
		s.Receiving, s.Sending = c.stats.pending()
	}
	return s
}
