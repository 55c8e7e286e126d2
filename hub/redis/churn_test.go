package redis

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-macaron/sockets/hub"
	goredis "github.com/redis/go-redis/v9"
)

// lines is a log writer the test reads.
type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lines) count(re *regexp.Regexp) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(re.FindAllStringIndex(l.b.String(), -1))
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// backplaneHub is a hub on a Redis backplane whose lines go to logs, and
// which signals each confirmed subscription on subscribed.
func backplaneHub(t *testing.T, addr string, durable bool, logs io.Writer) (*hub.Hub[string], chan string) {
	return backplaneHubWith(t, addr, Options{Logger: log.New(logs, "", 0), Durable: durable})
}

// backplaneHubWith is backplaneHub with the backplane's options given.
func backplaneHubWith(t *testing.T, addr string, o Options) (*hub.Hub[string], chan string) {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	subscribed := make(chan string, 1<<17)
	o.OnSubscribe = func(room string) {
		select {
		case subscribed <- room:
		default: // more than a test waits for: never hold the reader
		}
	}
	bp := New(rdb, o)
	h := hub.New[string](hub.Options{Backplane: bp, Logger: log.New(io.Discard, "", 0)})
	t.Cleanup(h.Close)
	return h, subscribed
}

// TestChurnIsNotLoss: 200 rooms emptied and refilled, 200 times, a moment
// apart (so that the unsubscription goes out, and the room is wanted again
// before Redis confirms it), in pub/sub mode: this server's own
// unsubscriptions are never taken for a lost subscription, so it logs none
// and never rebuilds its subscription connection.
func TestChurnIsNotLoss(t *testing.T) {
	r := startRedis(t)
	logs := &lines{}
	h, subscribed := backplaneHub(t, r.addr(), false, logs)
	members := make([]*hub.Member[string], 200)
	join := func(i int) {
		members[i], _ = h.Join(fmt.Sprint("churn", i), "m", make(chan string, 16), make(chan int, 1), make(chan bool))
	}
	for i := range members {
		join(i)
	}
	delays := []time.Duration{0, 20 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond, 300 * time.Microsecond}
	for round := range 200 {
		for _, m := range members {
			m.Leave()
		}
		// The user's timing, not a synchronisation: the unsubscriptions
		// go out, and the rooms fill again before Redis confirms them.
		for start := time.Now(); time.Since(start) < delays[round%len(delays)]; {
		}
		for i := range members {
			join(i)
		}
	}
	// Wait until the 20 rooms kept are confirmed, then a little traffic.
	seen := map[string]bool{}
	for deadline := time.After(time.Minute); len(seen) < len(members); {
		select {
		case room := <-subscribed:
			seen[room] = true
		case <-deadline:
			t.Fatalf("%d of %d rooms confirmed a minute later; logs:\n%s", len(seen), len(members), logs)
		}
	}
	if n := logs.count(regexp.MustCompile(`(?i)subscription lost`)); n != 0 {
		t.Fatalf("%d lost subscriptions logged for this server's own unsubscriptions:\n%s", n, logs)
	}
}

// TestDurableJoinWaves: waves of joins in Durable mode, rooms subscribed
// while the reader reads, never send an empty stream id to Redis: no
// error is logged.
func TestDurableJoinWaves(t *testing.T) {
	r := startRedis(t)
	logs := &lines{}
	h, subscribed := backplaneHub(t, r.addr(), true, logs)
	const waves, perWave = 30, 10
	for w := range waves {
		for i := range perWave {
			c := make(chan string, 16)
			h.Join(fmt.Sprint("wave", w, "-", i), "m", c, make(chan int, 1), make(chan bool))
			// Joins keep coming, a moment apart, while the reader finds
			// start positions and reads.
			time.Sleep(time.Millisecond)
		}
	}
	for got, deadline := 0, time.After(time.Minute); got < waves*perWave; got++ {
		select {
		case <-subscribed:
		case <-deadline:
			t.Fatalf("%d of %d rooms started a minute later; logs:\n%s", got, waves*perWave, logs)
		}
	}
	if s := logs.String(); s != "" {
		t.Fatalf("ordinary joins logged:\n%s", s)
	}
}

// TestOutageLoggedOnce: Redis killed for a few seconds while a room is
// subscribed: one line when the subscription is lost, one when it is back
// with the count of retries, whatever the length of the outage; both
// modes.
func TestOutageLoggedOnce(t *testing.T) {
	for _, tc := range []struct{ durable, slog bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		t.Run(fmt.Sprintf("durable=%v/slog=%v", tc.durable, tc.slog), func(t *testing.T) {
			r := startRedis(t)
			logs := &lines{}
			o := Options{Logger: log.New(logs, "", 0), Durable: tc.durable}
			if tc.slog {
				o.Slog = slog.New(slog.NewJSONHandler(logs, nil))
			}
			h, subscribed := backplaneHubWith(t, r.addr(), o)
			h.Join("room", "m", make(chan string, 16), make(chan int, 1), make(chan bool))
			select {
			case <-subscribed:
			case <-time.After(time.Minute):
				t.Fatal("never subscribed")
			}
			r.stop()
			lost := regexp.MustCompile(`(?i)(subscription lost|reading streams( failed)?): .*until Redis answers`)
			for deadline := time.Now().Add(time.Minute); logs.count(lost) == 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no line for the outage a minute later:\n%s", logs)
				}
			}
			if st := h.Stats().Backplane; st == nil || st.Up || st.DownSince.IsZero() {
				t.Fatalf("during the outage the backplane's state is %+v, want down since a moment", st)
			}
			time.Sleep(3 * time.Second) // the outage lasts: several retries
			r.start()
			back := regexp.MustCompile(`(?i)(subscription restored|reading streams again)[^\n]*retries\W+\d+`)
			for deadline := time.Now().Add(time.Minute); logs.count(back) == 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no line for the end of the outage a minute later:\n%s", logs)
				}
			}
			if st := h.Stats().Backplane; st == nil || !st.Up || !st.DownSince.IsZero() || st.Retries == 0 {
				t.Fatalf("after the outage the backplane's state is %+v, want up, with its retries counted", st)
			}
			if n, m := logs.count(lost), logs.count(back); n != 1 || m != 1 {
				t.Fatalf("%d lines for the outage and %d for its end, want one each:\n%s", n, m, logs)
			}
			if json := strings.Contains(logs.String(), `"msg":`); json != tc.slog {
				t.Fatalf("records in JSON: %v, want %v:\n%s", json, tc.slog, logs)
			}
			t.Logf("logs:\n%s", logs)
		})
	}
}

// TestDurableJoinThenPublish: in Durable mode, a member that has joined
// (Join has returned) receives every message another server publishes to
// its room after that moment, however soon: 300 rooms, each joined on one
// server and published to at once, twice, by another, with no pause.
func TestDurableJoinThenPublish(t *testing.T) {
	r := startRedis(t)
	pub, _ := backplaneHub(t, r.addr(), true, io.Discard)
	sub, _ := backplaneHub(t, r.addr(), true, io.Discard)
	const rooms = 300
	got := make([]chan string, rooms)
	for i := range rooms {
		got[i] = make(chan string, 4)
		room := fmt.Sprint("room", i)
		sub.Join(room, "m", got[i], make(chan int, 1), make(chan bool))
		for _, v := range []string{"first", "second"} {
			if err := pub.Broadcast(room, fmt.Sprint(v, " ", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	missed := 0
	for i := range rooms {
		for _, v := range []string{"first", "second"} {
			select {
			case m := <-got[i]:
				if want := fmt.Sprint(v, " ", i); m != want {
					t.Fatalf("room %d: got %q, want %q", i, m, want)
				}
			case <-time.After(wait):
				missed++
			}
		}
		if missed > 0 {
			t.Fatalf("room %d missed a message published right after its join (%d missed so far); receiver %+v",
				i, missed, sub.Stats())
		}
	}
}

// TestJoinCloseRaceRedis: Join, Broadcast, Leave and Close at once, in any
// order, 100 times, on the Redis backplane in both modes: no data race
// (under -race), no goroutine left (goleak), and a Join once Close has
// begun returns hub.ErrClosed.
func TestJoinCloseRaceRedis(t *testing.T) {
	r := startRedis(t)
	for run := range 100 {
		rdb := goredis.NewClient(&goredis.Options{Addr: r.addr()})
		h := hub.New[string](hub.Options{Logger: log.New(io.Discard, "", 0),
			Backplane: New(rdb, Options{Durable: run%2 == 1, Logger: log.New(io.Discard, "", 0)})})
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				room := fmt.Sprint("room", i%3)
				m, err := h.Join(room, fmt.Sprint("m", i), make(chan string, 4), make(chan int, 1), make(chan bool))
				_ = h.Broadcast(room, "hello")
				switch {
				case err != nil && !errors.Is(err, hub.ErrClosed):
					t.Errorf("run %d: Join: %v", run, err)
				case err == nil && i%2 == 0:
					m.Leave()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			h.Close()
		}()
		close(start)
		wg.Wait()
		if _, err := h.Join("late", "late", make(chan string), make(chan int, 1), make(chan bool)); !errors.Is(err, hub.ErrClosed) {
			t.Fatalf("run %d: Join after Close: %v", run, err)
		}
		_ = rdb.Close()
	}
}
