package sockets_test

import (
	"bytes"
	"fmt"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// loops counts the goroutines running a connection's write loop and those
// running its read loop.
func loops(t *testing.T) (write, read int) {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "sockets.(*pump).writeRun") {
			write++
		}
		if strings.Contains(g, "sockets.(*pump).readLoop") {
			read++
		}
	}
	return write, read
}

// awaitParked waits, bounded, until no write loop runs and, if reads, no
// read loop either.
func awaitParked(t *testing.T, reads bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w, r := loops(t); w > 0 || reads && r > 0; w, r = loops(t) {
		if time.Now().After(deadline) {
			t.Fatalf("%d write loops and %d read loops still run, want none", w, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleConnectionsPark: an idle connection keeps neither a write loop
// nor a read loop goroutine (each parks after a second of idleness, and
// again after each use), and a parked connection still echoes, pings on
// time, and closes cleanly, whichever side closes. Pings more frequent
// than a second keep the read loop awake (each pong is data), so the
// subtest with them only waits for the write loops. The whole suite also
// runs with every loop parking at its first idle moment
// (SOCKETS_PARK_AFTER=1ns in .ci/run).
func TestIdleConnectionsPark(t *testing.T) {
	t.Run("pings", func(t *testing.T) { testIdleConnectionsPark(t, 300*time.Millisecond) })
	t.Run("quiet", func(t *testing.T) { testIdleConnectionsPark(t, time.Minute) })
}

func testIdleConnectionsPark(t *testing.T, pingPeriod time.Duration) {
	const conns = 100 // several parker groups
	reads := pingPeriod > 2*time.Second
	o := quietOptions()
	o.PingPeriod, o.PongWait = pingPeriod, 2*time.Minute
	quit := make(chan struct{}) // closed: the server closes the connections left
	s := sockettest.NewServer(t, wschan.Handler(func(c *wschan.Conn[string]) {
		quit := quit
		for {
			select {
			case m := <-c.Receiver:
				c.Sender <- m
			case <-quit:
				quit = nil
				c.Disconnect <- 4000
			case <-c.Done:
				return
			}
		}
	}, o))
	clients := make([]*sockettest.Client, conns)
	for i := range clients {
		clients[i] = s.Dial("/")
	}
	// Unused for a second, every loop has parked.
	awaitParked(t, reads)

	for round := range 2 {
		for i, c := range clients {
			c.SendText(fmt.Sprint(round, "-", i))
		}
		for i, c := range clients {
			c.ExpectText(fmt.Sprint(round, "-", i))
		}
		// A second of idleness later, every loop has parked again.
		awaitParked(t, reads)
	}

	// Parked, the connections still ping: the server's pings are
	// answered by the clients, which the round-trip time shows.
	deadline := time.Now().Add(10 * time.Second)
	for range clients {
		if reads {
			break // no ping is due for a minute
		}
		conn := s.NextConnection()
		for conn.Stats().RTT == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("a parked connection never pinged: %+v", conn.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Parked, half close from the client side, half from the server's.
	awaitParked(t, reads)
	for _, c := range clients[:conns/2] {
		c.Close(1000, "bye")
		if r := c.ServerRecord(); !r.Clean || r.Code != 1000 || r.By != wschan.EndedByPeer {
			t.Fatalf("close record %+v", r)
		}
	}
	close(quit)
	for _, c := range clients[conns/2:] {
		c.ExpectClose(4000, "")
		if r := c.ServerRecord(); !r.Clean || r.Code != 4000 || r.ReceivedCode != 4000 {
			t.Fatalf("close record %+v", r)
		}
	}
}
