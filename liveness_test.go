package sockets

import (
	"strings"
	"testing"
	"time"
)

// TestSlowMessageIsLiveness: a large message that arrives slowly, from a
// peer that answers no ping, keeps the connection alive: bytes arriving
// are the peer's liveness, not only whole messages and pongs. The message
// takes four times PongWait to arrive, in 40 pieces.
func TestSlowMessageIsLiveness(t *testing.T) {
	checkLeaks(t)
	o := testOptions(&logBuffer{})
	o.PongWait, o.PingPeriod = time.Second, 500*time.Millisecond
	p := newProbe[string]()
	ts := serve(t, Messages(o), p.handler)
	rc := ts.rawDial()
	msg := strings.Repeat("upload ", 64<<10/7)
	frame := maskedFrame(opText, []byte(msg))
	const pieces = 40
	step := len(frame)/pieces + 1
	for len(frame) > 0 {
		n := min(step, len(frame))
		rc.send(frame[:n])
		frame = frame[n:]
		// The link is slow: 40 pieces over four PongWaits.
		time.Sleep(4 * o.PongWait / pieces)
	}
	if got := p.next(t); got != msg {
		t.Fatalf("received %d bytes, want the %d sent", len(got), len(msg))
	}
	rc.send(closeFrame(1000, ""))
	_, f := rc.untilClose()
	if code, _ := f.closeCode(); code != 1000 {
		t.Fatalf("close %d, want 1000", code)
	}
	if e := p.end(t); e.err != nil {
		t.Fatalf("error channel carried %v", e.err)
	}
}
