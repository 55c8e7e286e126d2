package sockets

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// closeStressRuns is how many connections each close stress test makes.
const closeStressRuns = 200

// streamPayload is the i-th message a streaming handler sends: 16 KiB that
// say which message they are, so a lost, reordered or torn frame shows.
func streamPayload(i int) []byte {
	p := bytes.Repeat([]byte{byte(i)}, 16<<10)
	binary.BigEndian.PutUint64(p, uint64(i))
	return p
}

// checkStream checks that frames are the first messages of the stream, in
// order, byte for byte.
func checkStream(t *testing.T, frames []frame, payload func(int) []byte, opcode byte) {
	t.Helper()
	for i, f := range frames {
		if !f.fin || f.opcode != opcode || !bytes.Equal(f.payload, payload(i)) {
			t.Fatalf("data frame %d is %v, want message %d whole", i, f, i)
		}
	}
}

// streamer sends streamPayload(0), (1), ... until the connection ends.
func streamer(out chan<- []byte, done <-chan bool) {
	for i := 0; ; i++ {
		select {
		case out <- streamPayload(i):
		case <-done:
			return
		}
	}
}

// TestCloseWhileStreaming: a peer that sends a close frame while the server
// streams 16 KiB binary messages always gets the close frame back (RFC 6455
// 5.5.1), after every message the server wrote before it, byte for byte.
// Write batching is on, as it always is: the reply once sat in a batch the
// transport closed the socket under.
func TestCloseWhileStreaming(t *testing.T) {
	checkLeaks(t)
	ts := serve(t, ByteSliceMessages(testOptions(&logBuffer{})), streamer)
	for run := range closeStressRuns {
		c := ts.rawDial()
		// Let a varying number of messages through first, so the close
		// lands at different points of a batch.
		for range run % 7 {
			if f, err := c.next(); err != nil || f.opcode != opBinary {
				t.Fatalf("run %d: %v %v", run, f, err)
			}
		}
		c.send(closeFrame(1000, "bye"))
		data, closing := c.untilClose()
		if code, reason := closing.closeCode(); code != 1000 || reason != "bye" {
			t.Fatalf("run %d: close %d %q, want the echo 1000 \"bye\"", run, code, reason)
		}
		checkStream(t, data, func(i int) []byte { return streamPayload(i + run%7) }, opBinary)
		ts.waitFinished()
	}
}

// echoBytes echoes every message back as it came, until done.
func echoBytes(in <-chan []byte, out chan<- []byte, done <-chan bool) {
	for {
		select {
		case m := <-in:
			select {
			case out <- m:
			case <-done:
				return
			}
		case <-done:
			return
		}
	}
}

// TestCloseAfterPipeline: 100 messages and a close frame in one TCP write.
// The server answers the close every time, after the echoes it wrote before
// it, in order and byte for byte.
func TestCloseAfterPipeline(t *testing.T) {
	checkLeaks(t)
	ts := serve(t, ByteSliceMessages(testOptions(&logBuffer{})), echoBytes)
	msg := func(i int) []byte { return binary.BigEndian.AppendUint32(bytes.Repeat([]byte{'p'}, 200), uint32(i)) }
	var burst []byte
	for i := range 100 {
		burst = append(burst, maskedFrame(opBinary, msg(i))...)
	}
	burst = append(burst, closeFrame(1000, "")...)
	for run := range closeStressRuns {
		c := ts.rawDial()
		c.send(burst)
		data, closing := c.untilClose()
		if code, _ := closing.closeCode(); code != 1000 {
			t.Fatalf("run %d: close %d, want 1000", run, code)
		}
		checkStream(t, data, msg, opBinary)
		ts.waitFinished()
	}
}
