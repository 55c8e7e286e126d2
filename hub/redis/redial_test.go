package redis

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/go-macaron/sockets/hub"
	"github.com/go-macaron/sockets/wschan"
)

// tickMsg is a broadcast carrying its position, as the application's own
// messages do.
type tickMsg struct {
	N  int    `json:"n"`
	ID string `json:"id,omitempty"`
}

func (m *tickMsg) SetPosition(p hub.Position) { m.ID = p.String() }

// TestRedialAcrossServers: a Go client (wschan.Redial) that each server in
// turn drops (1012, or TCP) at random moments of a burst reconnects to the
// other server, resuming from the last message it was given: it sees every
// broadcast exactly once, in order; 30 runs over one Redis, Durable, with a
// history.
func TestRedialAcrossServers(t *testing.T) {
	r := startRedis(t)
	type server struct {
		h       *hub.Hub[*tickMsg]
		url     string
		current sync.Map // room -> the *wschan.Connection of its last member here
	}
	var servers [2]*server
	for i := range servers {
		rdb := newClient(t, r.addr())
		s := &server{h: hub.New[*tickMsg](hub.Options{History: 1, Logger: quietLog(),
			Backplane: New(rdb, Options{Durable: true, PollInterval: 20 * time.Millisecond, Logger: quietLog()})})}
		t.Cleanup(s.h.Close)
		srv := httptest.NewServer(wschan.Handler(func(c *wschan.Conn[*tickMsg]) {
			room, from := c.Request.URL.Query().Get("room"), c.Request.URL.Query().Get("from")
			if from == "" {
				// A fresh client: where it starts, first, so that it can
				// resume even before its first message; then it joins
				// from there.
				_, pos := s.h.Recent(room, 0)
				c.Sender <- &tickMsg{N: -1, ID: pos.String()}
				from = pos.String()
			}
			m, rec, err := s.h.JoinConnFrom(room, "", c, from)
			if err != nil {
				return
			}
			if !rec.Recovered {
				t.Errorf("a join from %q was not recovered: %s", from, rec.Reason)
			}
			defer m.Leave()
			s.current.Store(room, c.Connection)
			<-c.Done
		}, &wschan.Options{SkipLogging: true, AllowedOrigin: ".*"}))
		t.Cleanup(srv.Close)
		s.url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
		servers[i] = s
	}
	for run := range 30 {
		room := fmt.Sprint("run", run)
		current := func(i int64) *wschan.Connection {
			c, _ := servers[i%2].current.Load(room)
			conn, _ := c.(*wschan.Connection)
			return conn
		}
		var at atomic.Int64 // the server the client uses
		policy := &wschan.RedialPolicy{MinDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
		resume := func(last *tickMsg, ok bool, _ string, h http.Header) (string, http.Header) {
			next := servers[at.Add(1)%2].url + "?room=" + room // the other server
			if ok {
				next += "&from=" + url.QueryEscape(last.ID)
			}
			return next, h
		}
		ctx, cancel := context.WithCancel(context.Background())
		c, err := wschan.Redial[*tickMsg](ctx, servers[0].url+"?room="+room, &wschan.DialOptions{Options: &wschan.Options{SkipLogging: true}}, policy, resume)
		if err != nil {
			t.Fatal(err)
		}
		for current(0) == nil {
			time.Sleep(time.Millisecond) // the first join, bounded by the test's timeout
		}
		const burst = 40
		done := make(chan struct{})
		go func() {
			defer close(done)
			drops := 0
			for i := range burst {
				servers[i%2].h.Broadcast(room, &tickMsg{N: i})
				if drops < 2 && rand.IntN(burst/3) == 0 {
					if conn := current(at.Load()); conn != nil {
						_ = conn.Close([]int{1012, 1006}[rand.IntN(2)])
						drops++
					}
				}
			}
		}()
		var got []int
		for len(got) < burst {
			select {
			case v := <-c.Receiver:
				if v.N >= 0 {
					got = append(got, v.N)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("run %d: after %v, nothing more", run, got)
			}
		}
		<-done
		// The room's order is the stream's: the broadcasts of the two
		// servers may interleave otherwise than 0..burst-1, but each is
		// there once, and each server's own in its order.
		seen := map[int]bool{}
		last := [2]int{-1, -1}
		for _, n := range got {
			if seen[n] {
				t.Fatalf("run %d: %d twice in %v", run, n, got)
			}
			seen[n] = true
			if n <= last[n%2] {
				t.Fatalf("run %d: %d after %d in %v", run, n, last[n%2], got)
			}
			last[n%2] = n
		}
		cancel()
		<-c.Done
		for range c.Error {
		}
	}
}

// newClient is a Redis client of addr, closed when the test ends.
func newClient(t *testing.T, addr string) *goredis.Client {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// quietLog discards.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
