package sockets

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests and examples.
// With SOCKETS_PARK_AFTER set (a duration, e.g. 1ns), it is the ParkAfter
// of testOptions: every connection made with them parks its write loop and
// read loop after that much idleness instead of one second (the read loop
// after at least a millisecond mid-frame). .ci/run runs the whole suite so
// a second time, every guarantee tested with the loops parking at their
// first idle moment.
func TestMain(m *testing.M) {
	if v := os.Getenv("SOCKETS_PARK_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "SOCKETS_PARK_AFTER=%q: want a positive duration\n", v)
			os.Exit(2)
		}
	}
	goleak.VerifyTestMain(m)
}
