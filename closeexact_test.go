package sockets_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"gopkg.in/macaron.v1"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// TestCloseFirstRequestWins: the first close asked for goes on the wire,
// code and reason together; every later request returns
// wschan.ErrConnectionClosed and changes nothing, on both fronts.
func TestCloseFirstRequestWins(t *testing.T) {
	type step func(c *wschan.Conn[string]) error
	withReason := func(code int, reason string) step {
		return func(c *wschan.Conn[string]) error { return c.Connection.CloseWithReason(code, reason) }
	}
	plain := func(code int) step {
		return func(c *wschan.Conn[string]) error { return c.Connection.Close(code) }
	}
	direct := func(code int) step {
		return func(c *wschan.Conn[string]) error { c.Disconnect <- code; return nil }
	}
	for _, tc := range []struct {
		name       string
		steps      []step
		want       []error // what each step returns
		code       int
		reason     string
		afterFirst bool // wait for the first close to reach the client before the rest
	}{
		{"reason then reason", []step{withReason(4006, "first"), withReason(4007, "second")},
			[]error{nil, wschan.ErrConnectionClosed}, 4006, "first", false},
		{"close then close", []step{plain(4010), plain(4011)},
			[]error{nil, wschan.ErrConnectionClosed}, 4010, "", false},
		{"close then reason", []step{plain(4012), withReason(4013, "late")},
			[]error{nil, wschan.ErrConnectionClosed}, 4012, "", false},
		{"reason then channel", []step{withReason(4014, "method"), direct(4015)},
			[]error{nil, nil}, 4014, "method", false},
		{"channel then reason, once taken", []step{direct(4016), withReason(4017, "late")},
			[]error{nil, wschan.ErrConnectionClosed}, 4016, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bothFronts(t, func(o *sockets.Options) macaron.Handler { return sockets.Messages(o) },
				func(t *testing.T, f front[string]) {
					got := make(chan []error, 1)
					proceed := make(chan struct{})
					srv := sockettest.NewServer(t, f.serve(&sockets.Options{SkipLogging: true}, func(c *wschan.Conn[string]) {
						var errs []error
						for i, s := range tc.steps {
							if i == 1 && tc.afterFirst {
								<-proceed
							}
							errs = append(errs, s(c))
						}
						got <- errs
						<-c.Done
					}))
					cl := srv.Dial("/ws")
					if tc.afterFirst {
						cl.ExpectClose(tc.code, tc.reason)
						close(proceed)
					}
					errs := <-got
					for i, want := range tc.want {
						if !errors.Is(errs[i], want) || (want == nil && errs[i] != nil) {
							t.Errorf("step %d returned %v, want %v", i, errs[i], want)
						}
					}
					if !tc.afterFirst {
						cl.ExpectClose(tc.code, tc.reason)
					}
					if r := cl.ServerRecord(); r.SentCode != tc.code || r.SentReason != tc.reason {
						t.Errorf("the close record says %d %q was sent, want %d %q", r.SentCode, r.SentReason, tc.code, tc.reason)
					}
				})
		})
	}
}

// TestCloseConcurrentRequests: four goroutines ask for four different
// closes at once (two with reasons), and in a third of the runs the handler
// also sends a code on the disconnect channel: in each of 300 runs at most
// one method returns nil, and the close frame on the wire is that call's
// code and reason, or, when no method won, the channel's code.
func TestCloseConcurrentRequests(t *testing.T) {
	const (
		runs    = 300
		callers = 4
		direct  = 4100
	)
	got := make(chan []error, 1)
	srv := sockettest.NewServer(t, wschan.Handler(func(c *wschan.Conn[string]) {
		withDirect := c.Request.URL.Query().Get("direct") == "1"
		start := make(chan struct{})
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if i%2 == 0 {
					errs[i] = c.Connection.CloseWithReason(4000+i, fmt.Sprint("reason ", i))
				} else {
					errs[i] = c.Connection.Close(4000 + i)
				}
			}()
		}
		if withDirect {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				select {
				case c.Disconnect <- direct:
				default: // a method's code fills the channel: it came first
				}
			}()
		}
		close(start)
		wg.Wait()
		got <- errs
		<-c.Done
	}, &sockets.Options{SkipLogging: true}))
	for run := range runs {
		withDirect := run%3 == 0
		path := "/ws?direct=0"
		if withDirect {
			path = "/ws?direct=1"
		}
		cl := srv.Dial(path)
		errs := <-got
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("run %d: calls %d and %d both returned nil", run, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, wschan.ErrConnectionClosed):
				t.Fatalf("run %d: call %d returned %v", run, i, err)
			}
		}
		code, reason := direct, ""
		switch {
		case winner >= 0:
			code = 4000 + winner
			if winner%2 == 0 {
				reason = fmt.Sprint("reason ", winner)
			}
		case !withDirect:
			t.Fatalf("run %d: no call returned nil, and no code was sent on the channel", run)
		}
		cl.ExpectClose(code, reason)
	}
}
