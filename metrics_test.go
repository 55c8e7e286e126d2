package sockets_test

import (
	"net/http"
	"testing"

	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// TestMetricsAndTrace: two handlers share one Metrics; the snapshot counts
// open connections, every message and byte (of open and ended ones) and the
// closes by code; a trace composed with the Metrics' own sees each
// connection end once, its record and figures final.
func TestMetricsAndTrace(t *testing.T) {
	bothFronts(t, stringsMW, func(t *testing.T, f front[string]) {
		m := &wschan.Metrics{}
		ends := make(chan wschan.CloseRecord, 10)
		o := quietOptions()
		counted := m.Trace()
		o.Trace = &wschan.ConnTrace{Upgraded: counted.Upgraded, Ended: func(c *wschan.Connection) {
			counted.Ended(c)
			r, ok := c.CloseRecord()
			if st := c.Stats(); st.MessagesIn == 0 || !ok {
				t.Errorf("Ended: figures %+v, record set %v", st, ok)
			}
			ends <- r
		}}
		mux := http.NewServeMux()
		mux.Handle("/ws", f.serve(o, statsHandler))
		mux.Handle("/other", wschan.Handler(statsHandler, o))
		s := sockettest.NewServer(t, mux)
		a, b, c := s.Dial("/ws"), s.Dial("/ws"), s.Dial("/other")
		for _, cl := range []*sockettest.Client{a, b, c} {
			cl.SendText("12345")
			cl.ExpectText("12345")
		}
		snap := m.Snapshot()
		if snap.Open != 3 || snap.Accepted != 3 || snap.MessagesIn != 3 || snap.BytesIn != 15 || snap.MessagesOut != 3 || snap.BytesOut != 15 {
			t.Fatalf("snapshot with 3 open: %+v", snap)
		}
		a.Close(1000, "")
		a.ServerRecord()
		b.SendBinary([]byte("close done"))
		b.ExpectClose(4001, "done")
		b.ServerRecord()
		c.Drop()
		c.ServerRecord()
		for range 3 {
			<-ends
		}
		snap = m.Snapshot()
		if snap.Open != 0 || snap.Accepted != 3 || snap.MessagesIn != 4 || snap.BytesIn != 25 ||
			snap.Closes[1000] != 1 || snap.Closes[4001] != 1 || snap.Closes[0] != 1 {
			t.Fatalf("snapshot after the ends: %+v", snap)
		}
	})
}
