package sockets

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestValueChangedBetweenSends: a pointer sent, changed once the peer has
// its first frame, and sent again goes out as it is at the second send, on
// the Macaron front's JSON channels (read by the write loop and its parker
// as channels of pointers), with the write loop running or parked between
// the sends, 100 times each, against a raw-frame client: nothing is kept
// of a value from one send to the next.
func TestValueChangedBetweenSends(t *testing.T) {
	checkLeaks(t)
	for _, parked := range []bool{false, true} {
		t.Run(fmt.Sprintf("parked=%v", parked), func(t *testing.T) {
			o := testOptions(&logBuffer{})
			if parked {
				o = parkAtOnce(o)
			}
			ts := serve(t, JSON(ChatMessage{}, o), func(in <-chan *ChatMessage, out chan<- *ChatMessage, disc chan<- int, done <-chan bool) {
				m := &ChatMessage{From: "server", Text: "first"}
				out <- m
				<-in // the peer has the first frame
				m.Text = "second"
				out <- m
				disc <- 1000
				<-done
			})
			for run := range 100 {
				c := ts.rawDial()
				f, err := c.next()
				if err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				c.send(maskedFrame(opText, []byte(`{"text":"got it"}`)))
				data, closing := c.framesUntilClose()
				var first, second ChatMessage
				if err := json.Unmarshal(f.payload, &first); err != nil || len(data) != 1 {
					t.Fatalf("run %d: first frame %q (%v), then %d frames", run, f.payload, err, len(data))
				}
				if err := json.Unmarshal(data[0].payload, &second); err != nil {
					t.Fatalf("run %d: second frame %q: %v", run, data[0].payload, err)
				}
				if first.Text != "first" || second.Text != "second" {
					t.Fatalf("run %d: sent %q then %q, want first then second", run, first.Text, second.Text)
				}
				code, _ := closing.closeCode()
				c.send(closeFrame(code, ""))
				c.expectEOF()
				_ = c.conn.Close()
				ts.waitFinished()
			}
		})
	}
}
