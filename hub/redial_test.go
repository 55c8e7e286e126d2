package hub

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// TestRedialResumesAcrossAFlappingServer: a client kept up by
// wschan.Redial, resuming from the position of the last tick it was given,
// sees every broadcast of the room exactly once, in order, while the
// server closes its connection (1012, or a TCP drop) at random moments of
// a burst; 200 runs, no goroutine left (TestMain).
func TestRedialResumesAcrossAFlappingServer(t *testing.T) {
	const runs, burst = 200, 50
	totalDrops := 0
	for run := range runs {
		h := New[*tick](Options{History: 1000, Logger: quiet()})
		var current atomic.Pointer[wschan.Connection]
		srv := sockettest.NewServer(t, wschan.Handler(func(c *wschan.Conn[*tick]) {
			from := c.Request.URL.Query().Get("from")
			if from == "" {
				// A fresh client: where it starts, first, so that it can
				// resume even before its first message.
				_, pos := h.Recent("r", 0)
				c.Sender <- &tick{N: -1, ID: pos.String()}
				from = pos.String()
			}
			m, rec, err := h.JoinConnFrom("r", "", c, from)
			if err != nil {
				return
			}
			if !rec.Recovered {
				t.Errorf("a join from %q was not recovered: %s", from, rec.Reason)
			}
			defer m.Leave()
			current.Store(c.Connection)
			<-c.Done
		}, &wschan.Options{SkipLogging: true}))
		policy := &wschan.RedialPolicy{MinDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
		resume := func(last *tick, ok bool, u string, header http.Header) (string, http.Header) {
			if ok {
				u = strings.Split(u, "?")[0] + "?from=" + url.QueryEscape(last.ID)
			}
			return u, header
		}
		ctx, cancel := context.WithCancel(context.Background())
		c, err := wschan.Redial[*tick](ctx, srv.WebSocketURL("/ws"), &wschan.DialOptions{
			Header: http.Header{"Origin": {srv.URL}}, Options: &wschan.Options{SkipLogging: true}}, policy, resume)
		if err != nil {
			t.Fatal(err)
		}
		for current.Load() == nil {
			time.Sleep(time.Millisecond) // the first join, bounded by the test's timeout
		}
		done := make(chan int)
		go func() {
			drops := 0
			for i := range burst {
				h.Broadcast("r", &tick{N: i})
				if drops < 3 && rand.IntN(burst/4) == 0 {
					if conn := current.Load(); conn != nil {
						if rand.IntN(2) == 0 {
							_ = conn.Close(1012) // service restart: retried
						} else {
							_ = conn.Close(1006) // dropped without a close frame
						}
						drops++
					}
				}
			}
			done <- drops
		}()
		var got []int
		for len(got) < burst {
			select {
			case v := <-c.Receiver:
				if v.N >= 0 {
					got = append(got, v.N)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("run %d: after %v, nothing more", run, got)
			}
		}
		totalDrops += <-done
		for i, n := range got {
			if n != i {
				t.Fatalf("run %d: received %v, want 0..%d once each, in order", run, got, burst-1)
			}
		}
		cancel()
		select {
		case <-c.Done:
		case <-time.After(20 * time.Second):
			t.Fatal("the client did not stop with its context")
		}
		for range c.Error {
		}
		srv.Close()
		h.Close()
	}
	if totalDrops < runs/2 {
		t.Errorf("%d drops in %d runs: the test hardly tested", totalDrops, runs)
	}
}
