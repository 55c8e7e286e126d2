package sockets

import (
	"context"
	"net"
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

// TestUnreadBytesAreNotSilence: when the silence deadline passes while
// the peer's bytes wait unread in the socket (the server is behind, not
// the peer silent), the connection goes on, its deadline moved; with
// nothing waiting, it ends with ErrPongTimeout. Over a real TCP socket.
func TestUnreadBytesAreNotSilence(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	silentFor := func() *pump {
		c := newConnection(&Options{PongWait: time.Second, PingPeriod: time.Hour}, "peer")
		c.stats.born = time.Now().Add(-2 * time.Second) // nothing read for two seconds
		p := newPump(c, nil)
		p.ctx, p.cancel = context.WithCancel(context.Background())
		t.Cleanup(p.cancel)
		p.raw, p.timer = server, time.NewTimer(time.Hour)
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
	if stop, _ := p.tick(); stop {
		t.Fatalf("the connection ended (%v) while the peer's bytes waited unread", p.ending.cause)
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
	if stop, _ := p.tick(); !stop || p.ending.cause != ErrPongTimeout {
		t.Fatalf("a silent peer was not dropped: stop %v, cause %v", stop, p.ending.cause)
	}
}
