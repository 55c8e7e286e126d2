package wschan

import (
	"maps"
	"net/http"
	"sync"
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
	// ReadParked and WriteParked report whether the loop is parked now.
	ReadParked, WriteParked bool
}

// counters are the live figures behind Stats: atomics, so that the message
// path takes no lock and Stats can be read from any goroutine.
type counters struct {
	msgsIn, bytesIn   atomic.Int64
	msgsOut, bytesOut atomic.Int64
	rtt               atomic.Int64
	readParks         atomic.Int64
	writeParks        atomic.Int64
	readParked        atomic.Int32 // 1 while parked (a wake may count first: -1, then 0)
	writeParked       atomic.Int32
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

// Stats returns the connection's figures. It is cheap (a few atomic loads)
// and safe from any goroutine, during the connection and after it.
func (c *Connection) Stats() Stats {
	s := Stats{
		MessagesIn: c.stats.msgsIn.Load(), BytesIn: c.stats.bytesIn.Load(),
		MessagesOut: c.stats.msgsOut.Load(), BytesOut: c.stats.bytesOut.Load(),
		RTT: time.Duration(c.stats.rtt.Load()), ConnectedAt: c.stats.born,
		ReadParks: c.stats.readParks.Load(), WriteParks: c.stats.writeParks.Load(),
		ReadParked: c.stats.readParked.Load() > 0, WriteParked: c.stats.writeParked.Load() > 0,
	}
	if c.stats.pending != nil {
		s.Receiving, s.Sending = c.stats.pending()
	}
	return s
}

// Metrics aggregates the connections of every handler whose Options.Trace
// is its Trace: open, accepted, messages and bytes each way, closes by
// code. Exporters (Prometheus, OpenTelemetry) read it through Snapshot,
// without this package importing them. The message path does not touch
// it: Snapshot adds up the open connections' Stats with the ended ones'
// figures. The zero value is ready to use; do not copy it after first use.
type Metrics struct {
	mu       sync.Mutex
	live     map[*Connection]struct{}
	closes   map[int]int64
	rejected map[int]int64
	endedBy  [EndedByNetwork + 1]int64

	accepted                           atomic.Int64
	msgsIn, bytesIn, msgsOut, bytesOut atomic.Int64 // of ended connections
}

// MetricsSnapshot is the aggregate at one moment. Every figure but Open is
// a counter that only grows, as Prometheus counters do.
type MetricsSnapshot struct {
	// Open is how many connections are open now; Accepted how many were
	// upgraded in all.
	Open, Accepted int64
	// MessagesIn, BytesIn, MessagesOut and BytesOut add up the figures of
	// every connection, open or ended (see Stats).
	MessagesIn, BytesIn, MessagesOut, BytesOut int64
	// Closes counts the ended connections by the code of the close frame
	// that ended them (CloseRecord.Code: 0 for a connection dropped
	// without one).
	Closes map[int]int64
	// EndedBy counts the ended connections by who ended them
	// (CloseRecord.By).
	EndedBy map[EndedBy]int64
	// Rejected counts the requests answered without an upgrade, by
	// status: 405 (method), 403 (origin), 400 (handshake), 426 (version),
	// 501 (no hijacking), or the transport's own answer.
	Rejected map[int]int64
	// ReadParked and WriteParked are how many open connections have their
	// read loop, and their write loop, parked now (Options.ParkAfter).
	ReadParked, WriteParked int64
}

// Snapshot returns the aggregate now. It costs one Stats read per open
// connection.
func (m *Metrics) Snapshot() MetricsSnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := MetricsSnapshot{
		Open: int64(len(m.live)), Accepted: m.accepted.Load(),
		MessagesIn: m.msgsIn.Load(), BytesIn: m.bytesIn.Load(),
		MessagesOut: m.msgsOut.Load(), BytesOut: m.bytesOut.Load(),
		Closes: maps.Clone(m.closes), Rejected: maps.Clone(m.rejected), EndedBy: make(map[EndedBy]int64),
	}
	if s.Closes == nil {
		s.Closes = map[int]int64{}
	}
	if s.Rejected == nil {
		s.Rejected = map[int]int64{}
	}
	for c := range m.live {
		st := c.Stats()
		s.MessagesIn += st.MessagesIn
		s.BytesIn += st.BytesIn
		s.MessagesOut += st.MessagesOut
		s.BytesOut += st.BytesOut
		if st.ReadParked {
			s.ReadParked++
		}
		if st.WriteParked {
			s.WriteParked++
		}
	}
	for by, n := range m.endedBy {
		if n > 0 {
			s.EndedBy[EndedBy(by)] = n
		}
	}
	return s
}

// Trace returns the trace that counts connections into m: set it as
// Options.Trace (several Options may share it).
func (m *Metrics) Trace() *ConnTrace {
	return &ConnTrace{Upgraded: m.opened, Ended: m.ended, Rejected: m.reject}
}

// reject counts a request answered with status instead of an upgrade.
func (m *Metrics) reject(_ *http.Request, status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rejected == nil {
		m.rejected = make(map[int]int64)
	}
	m.rejected[status]++
}

// opened counts a connection that was upgraded.
func (m *Metrics) opened(c *Connection) {
	m.accepted.Add(1)
	m.mu.Lock()
	if m.live == nil {
		m.live = make(map[*Connection]struct{})
	}
	m.live[c] = struct{}{}
	m.mu.Unlock()
}

// ended moves a connection's final figures into the totals.
func (m *Metrics) ended(c *Connection) {
	r, _ := c.CloseRecord()
	st := c.Stats()
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.live, c)
	if m.closes == nil {
		m.closes = make(map[int]int64)
	}
	m.closes[r.Code]++
	if r.By >= EndedByPeer && r.By <= EndedByNetwork {
		m.endedBy[r.By]++
	}
	m.msgsIn.Add(st.MessagesIn)
	m.bytesIn.Add(st.BytesIn)
	m.msgsOut.Add(st.MessagesOut)
	m.bytesOut.Add(st.BytesOut)
}
