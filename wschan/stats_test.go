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

// TestZeroConnection: a Connection that no endpoint made (a user's test
// fake) answers its accessors without panicking.
func TestZeroConnection(t *testing.T) {
	var c Connection
	if c.RemoteAddr() != "" || c.Subprotocol() != "" || c.Request() != nil || c.Stats().MessagesIn != 0 {
		t.Fatalf("zero connection: remote %q, subprotocol %q, request %v, stats %+v",
			c.RemoteAddr(), c.Subprotocol(), c.Request(), c.Stats())
	}
	if _, ok := c.CloseRecord(); ok {
		t.Fatal("a zero connection has a close record")
	}
}
