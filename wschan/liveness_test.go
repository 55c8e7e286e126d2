package wschan

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-macaron/sockets/internal/wstest"
)

// TestUnreadBytesAreNotSilence: when the silence deadline passes while
// the peer's bytes wait unread in the socket (the server is behind, not
// the peer silent), the connection goes on, its deadline moved; with
// nothing waiting, it ends with ErrPongTimeout. Over a real TCP socket.
func TestUnreadBytesAreNotSilence(t *testing.T) {
	client, server := wstest.TCPPair(t)

	silentFor := func() *pump {
		c := newConnection(&Options{PongWait: time.Second, PingPeriod: time.Hour}, httptest.NewRequest("GET", "/", nil))
		c.stats.born = time.Now().Add(-2 * time.Second)                                  // nothing read for two seconds
		p := &pump{conn: c, opts: c.Options, e: &endpoint{}, ended: make(chan struct{})} // no transport: only tick runs
		c.ended = p.ended
		p.out, p.timer = &writeConn{Conn: server}, time.NewTimer(time.Hour)
		p.nextPing, p.deadline = time.Hour, time.Second
		return p
	}

	if _, err := client.Write([]byte("bytes the server has not read yet")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for unreadBytes(server) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the bytes never reached the server's socket")
		}
		time.Sleep(time.Millisecond)
	}
	p := silentFor()
	if p.tick() {
		t.Fatalf("the connection ended (%v) while the peer's bytes waited unread", p.end.Load().cause)
	}
	if p.deadline <= time.Second {
		t.Fatalf("the silence deadline stayed at %v", p.deadline)
	}

	buf := make([]byte, 64)
	for unreadBytes(server) > 0 {
		if _, err := server.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	p = silentFor()
	if stop := p.tick(); !stop || p.end.Load().cause != ErrPongTimeout {
		t.Fatalf("a silent peer was not dropped: stop %v, cause %v", stop, p.end.Load().cause)
	}
}
