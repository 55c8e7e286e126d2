package wschan

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkStats: what reading a connection's Stats costs.
func BenchmarkStats(b *testing.B) {
	c := newConnection(withDefaults(nil), httptest.NewRequest("GET", "/", nil))
	recv, send := make(chan string, 10), make(chan string, 10)
	c.stats.pending = newChanBox(send, recv, nil, nil, nil).lens
	c.stats.read(100)
	b.ReportAllocs()
	for range b.N {
		if c.Stats().BytesIn != 100 {
			b.Fatal("wrong figure")
		}
	}
}
