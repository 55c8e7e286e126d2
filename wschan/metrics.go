package wschan

import (
	"sync"
	"sync/atomic"
)

// Metrics aggregates the connections of every handler whose Options.Trace
// is its Trace: how many are open, how many were accepted, the messages and bytes
// each way, and the closes by code. Exporters (Prometheus, OpenTelemetry)
// read it through Snapshot, on demand or periodically, without this
// package importing them. The message path does not touch it: each
// connection counts for itself (Connection.Stats), and Snapshot adds up the
// open connections' figures with those of the ended ones. The zero value
// is ready to use; it must not be copied after first use.
type Metrics struct {
	mu     sync.Mutex
	live   map[*Connection]struct{}
	closes map[int]int64

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
		Closes: make(map[int]int64, len(m.closes)),
	}
	for c := range m.live {
		st := c.Stats()
		s.MessagesIn += st.MessagesIn
		s.BytesIn += st.BytesIn
		s.MessagesOut += st.MessagesOut
		s.BytesOut += st.BytesOut
	}
	for code, n := range m.closes {
		s.Closes[code] = n
	}
	return s
}

// Trace returns the trace that counts connections into m: set it as
// Options.Trace (several Options may share it).
func (m *Metrics) Trace() *ConnTrace {
	return &ConnTrace{Upgraded: m.opened, Ended: m.ended}
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
	m.msgsIn.Add(st.MessagesIn)
	m.bytesIn.Add(st.BytesIn)
	m.msgsOut.Add(st.MessagesOut)
	m.bytesOut.Add(st.BytesOut)
}
