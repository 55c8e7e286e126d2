package sockets

import (
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"

	"github.com/go-macaron/sockets/wschan"
)

// TestCloseWaitsBehindAFullReceiver pins what docs/faults.md says of a
// handler that stops reading: once the receiver is full and the read loop
// holds one more message, nothing more is read, control frames included,
// so the peer's close waits unanswered behind its messages; once the
// handler reads again, every message is delivered and the close answered.
func TestCloseWaitsBehindAFullReceiver(t *testing.T) {
	checkLeaks(t)
	o := testOptions(&logBuffer{})
	o.RecvChannelBuffer = 4
	start := make(chan struct{})
	got := make(chan int, 1)
	records := make(chan wschan.CloseRecord, 1)
	ts := serve(t, Messages(o), func(in <-chan string, done <-chan bool, conn *Connection) {
		<-start // a handler busy elsewhere
		n := 0
		for {
			select {
			case <-in:
				n++
			case <-done:
				for len(in) > 0 {
					<-in
					n++
				}
				got <- n
				r, _ := conn.CloseRecord()
				records <- r
				return
			}
		}
	})
	c := ts.dial()
	const sent = 10 // more than the receiver's 4 and the one the read loop holds
	for range sent {
		write(t, c, gorilla.TextMessage, []byte("m"))
	}
	closeFrom(t, c, 4000, "bye")
	// While the handler does not read, no answer comes: the close waits in
	// the socket behind the messages the server has not read.
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := c.ReadMessage(); err == nil || gorilla.IsCloseError(err, 4000) {
		t.Fatalf("the close was answered while the receiver was full: %v", err)
	}
	close(start)
	if n := recv(t, got, "the handler's count"); n != sent {
		t.Fatalf("the handler got %d messages, want %d", n, sent)
	}
	if r := recv(t, records, "the close record"); r.ReceivedCode != 4000 || r.SentCode != 4000 {
		t.Fatalf("the close record %+v, want the peer's 4000 read and echoed", r)
	}
	ts.waitFinished()
}
