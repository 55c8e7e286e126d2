package sockets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/go-macaron/sockets/wschan"
)

// TestParkedWriteLoopEnds stresses what a parked write loop no longer waits
// on: its own timer (its parker's group keeps one for all: pump.Due) and
// the connection's context (finish stops it through the parker). With
// ParkAfter at 1ns the write loop parks as it starts and at every idle
// moment, and each run ends the connection a different way at a random
// moment, with a raw-frame client:
//   - the peer closes (1000): the parked loop is stopped and answers;
//   - the handler sends 1 to 4 messages, pausing so that the loop parks
//     between them, then its close code (4000): every message arrives, in
//     order, before the close frame;
//   - the handler sends while the peer closes: the peer's close is
//     answered, whatever was sent before it arrives intact;
//   - Options.Context ends (1001, ErrServerShutdown);
//   - the peer stops answering pings: the group's timer pings the parked
//     connection and finds the peer silent (dropped, ErrPongTimeout).
//
// The runs take turns over the three Macaron constructors, whose senders
// the parker waits on as a chan string, a chan []byte, and a chan *T made
// by reflection (read as pointers: jsonBox.sendChan). Every run must end
// within the test bound, with the right close record, and leave no
// goroutine behind.
func TestParkedWriteLoopEnds(t *testing.T) {
	checkLeaks(t)
	const runs = 250
	for run := range runs {
		rng := rand.New(rand.NewPCG(uint64(run), 11))
		// The pauses, drawn here: the handler runs in another goroutine.
		pauses := make(chan time.Duration, 8)
		for range cap(pauses) {
			pauses <- time.Duration(rng.IntN(2000)) * time.Microsecond
		}
		pause := func() { time.Sleep(<-pauses) }
		kind := run % 5
		ctx, cancel := context.WithCancel(context.Background())
		o := parkAtOnce(testOptions(&logBuffer{}))
		o.Context = ctx
		// No ping is due within the test's bound, so that only a stop
		// can end a parked loop in time; but for the silent peer's runs.
		o.PingPeriod, o.PongWait = time.Minute, 2*time.Minute
		if kind == 4 {
			o.PingPeriod, o.PongWait = 20*time.Millisecond, 150*time.Millisecond
		}
		sends := 1 + rng.IntN(4)
		records := make(chan wschan.CloseRecord, 1)
		errs := make(chan error, 1)
		started := make(chan struct{})
		body := func(send func(string), disc chan<- int, errc <-chan error, done <-chan bool, c *Connection) {
			close(started)
			switch kind {
			case 1:
				for i := range sends {
					pause()
					send(fmt.Sprint("m", i))
				}
				pause()
				disc <- 4000
			case 2:
				pause()
				send("racing")
			}
			var cause error
			for {
				select {
				case err := <-errc:
					cause = err
				case <-done:
					r, _ := c.CloseRecord()
					records <- r
					errs <- cause
					return
				}
			}
		}
		front := run / 5 % 3
		var ts *testServer
		switch front {
		case 0:
			ts = serve(t, Messages(o), func(out chan<- string, disc chan<- int, errc <-chan error, done <-chan bool, c *Connection) {
				body(func(s string) { out <- s }, disc, errc, done, c)
			})
		case 1:
			ts = serve(t, ByteSliceMessages(o), func(out chan<- []byte, disc chan<- int, errc <-chan error, done <-chan bool, c *Connection) {
				body(func(s string) { out <- []byte(s) }, disc, errc, done, c)
			})
		default:
			ts = serve(t, JSON(ChatMessage{}, o), func(out chan<- *ChatMessage, disc chan<- int, errc <-chan error, done <-chan bool, c *Connection) {
				body(func(s string) { out <- &ChatMessage{Text: s} }, disc, errc, done, c)
			})
		}
		text := func(f frame) string {
			if front < 2 {
				return string(f.payload)
			}
			var m ChatMessage
			if err := json.Unmarshal(f.payload, &m); err != nil {
				return "not JSON: " + string(f.payload)
			}
			return m.Text
		}
		c := ts.rawDial()
		recv(t, started, "the handler")
		switch kind {
		case 0, 2:
			pause()
			c.send(closeFrame(1000, "bye"))
		case 3:
			pause()
			cancel()
		}
		data, closing := []frame(nil), frame{}
		if kind == 4 {
			// Never answering the pings: the server drops the connection.
			for {
				f, err := c.next()
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatalf("run %d: the silent peer was never dropped", run)
					}
					break
				}
				if f.opcode != opPing {
					t.Fatalf("run %d: the server sent %v to a silent peer", run, f)
				}
			}
		} else {
			data, closing = c.framesUntilClose()
			if kind == 1 || kind == 3 {
				code, reason := closing.closeCode()
				c.send(closeFrame(code, reason)) // the answer the server waits for
			}
			c.expectEOF()
		}
		_ = c.conn.Close()
		r := recv(t, records, "the close record")
		cause := recv(t, errs, "the cause")
		code, _ := closing.closeCode()
		var fail string
		switch kind {
		case 0:
			if code != 1000 || len(data) != 0 || r.By != wschan.EndedByPeer || !r.Clean {
				fail = "peer's close"
			}
		case 1:
			ok := code == 4000 && r.Clean && len(data) == sends && r.Code == 4000 && r.By == wschan.EndedByHandler
			for i := 0; ok && i < sends; i++ {
				ok = text(data[i]) == fmt.Sprint("m", i)
			}
			if !ok {
				fail = "handler's messages, then its close"
			}
		case 2:
			if code != 1000 || len(data) > 1 || len(data) == 1 && text(data[0]) != "racing" || r.By != wschan.EndedByPeer {
				fail = "peer's close racing a send"
			}
		case 3:
			if code != 1001 || !r.Clean || !errors.Is(cause, wschan.ErrServerShutdown) || r.Code != 1001 {
				fail = "Options.Context's end"
			}
		case 4:
			if !errors.Is(cause, wschan.ErrPongTimeout) || r.By != wschan.EndedByNetwork {
				fail = "silent peer"
			}
		}
		if fail != "" {
			t.Fatalf("run %d (%s, front %d): close %d, %d data frames %v, record %+v, cause %v", run, fail, front, code, len(data), data, r, cause)
		}
		cancel()
		ts.srv.Close()
	}
}
