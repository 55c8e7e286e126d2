package sockets_test

import (
	"bytes"
	"fmt"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/sockettest"
)

// writeLoops counts the goroutines running a connection's write loop.
func writeLoops(t *testing.T) int {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "sockets.(*pump).writeRun") {
			n++
		}
	}
	return n
}

// awaitWriteLoops waits, bounded, until at most n write loops run.
func awaitWriteLoops(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for writeLoops(t) > n {
		if time.Now().After(deadline) {
			t.Fatalf("%d write loops still run, want at most %d", writeLoops(t), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleConnectionsPark: an idle connection keeps no write loop goroutine
// (it parks after a second of idleness, and again after each use), and a
// parked connection still echoes, pings on time, and closes cleanly. The
// whole suite also runs with every write loop parking at its first idle
// moment (SOCKETS_PARK_AFTER=1ns in .ci/run).
func TestIdleConnectionsPark(t *testing.T) {
	const conns = 100 // several parker groups
	o := quietOptions()
	o.PingPeriod, o.PongWait = 300*time.Millisecond, 10*time.Second
	s := sockettest.NewServer(t, sockets.Handler(func(c *sockets.Conn[string]) {
		for {
			select {
			case m := <-c.Receiver:
				c.Sender <- m
			case <-c.Done:
				return
			}
		}
	}, o))
	clients := make([]*sockettest.Client, conns)
	for i := range clients {
		clients[i] = s.Dial("/")
	}
	// Unused for a second, every write loop has parked.
	awaitWriteLoops(t, 0)

	for round := range 2 {
		for i, c := range clients {
			c.SendText(fmt.Sprint(round, "-", i))
		}
		for i, c := range clients {
			c.ExpectText(fmt.Sprint(round, "-", i))
		}
		// A second of idleness later, every write loop has parked again.
		awaitWriteLoops(t, 0)
	}

	// Parked, the connections still ping: the server's pings are
	// answered by the clients, which the round-trip time shows.
	deadline := time.Now().Add(10 * time.Second)
	for range clients {
		conn := s.NextConnection()
		for conn.Stats().RTT == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("a parked connection never pinged: %+v", conn.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, c := range clients {
		c.Close(1000, "bye")
		if r := c.ServerRecord(); !r.Clean || r.Code != 1000 {
			t.Fatalf("close record %+v", r)
		}
	}
}
