package redis

import (
	"fmt"
	"io"
	"log"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-macaron/sockets/hub"
	goredis "github.com/redis/go-redis/v9"
)

// TestDurableThirtySecondOutage: Durable mode, one server broadcasting
// 4000 messages a second of 200 bytes to a room that a second server's
// member is in, while redis-server is down for 30 seconds (killed, then
// restarted from its append-only file): the second server's member gets
// every message, once, in order; nothing is refused, failed or lost.
func TestDurableThirtySecondOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30-second outage: not with -short")
	}
	const (
		rate   = 4000 // broadcasts a second
		outage = 30 * time.Second
		before = 2 * time.Second // of traffic before the outage, and after it
	)
	r := startRedisWith(t, freePort(t), "--appendonly", "yes", "--appendfsync", "everysec", "--dir", t.TempDir())
	quiet := log.New(io.Discard, "", 0)
	subscribed := make(chan struct{}, 1)
	server := func(name string) *hub.Hub[string] {
		rdb := goredis.NewClient(&goredis.Options{Addr: r.addr(), MaxRetries: -1})
		t.Cleanup(func() { _ = rdb.Close() })
		bp := New(rdb, Options{Durable: true, StreamLength: 1 << 20, Logger: quiet,
			OnSubscribe: func(string) {
				select {
				case subscribed <- struct{}{}:
				default:
				}
			}})
		h := hub.New[string](hub.Options{Server: name, Backplane: bp, Logger: quiet, QueueSize: 1 << 18, MaxBacklog: 1 << 18})
		t.Cleanup(h.Close)
		return h
	}
	pub, sub := server("pub"), server("sub")
	got := make(chan string, 1<<18)
	sub.Join("room", "member", got, make(chan int, 1), make(chan bool))
	select {
	case <-subscribed:
	case <-time.After(time.Minute):
		t.Fatal("the second server never started reading the room")
	}

	pad := strings.Repeat("x", 200-12)
	sent, refused := 0, 0
	broadcastFor(t, pub, before, rate, &sent, &refused, pad)
	r.stop()
	broadcastFor(t, pub, outage, rate, &sent, &refused, pad)
	r.start()
	broadcastFor(t, pub, before, rate, &sent, &refused, pad)
	if refused != 0 {
		t.Fatalf("%d of %d broadcasts refused: the buffer did not hold a %v outage", refused, sent, outage)
	}

	for i := 0; i < sent; i++ {
		select {
		case m := <-got:
			n, err := strconv.Atoi(m[:11])
			if err != nil || n != i {
				t.Fatalf("message %d arrived as %.20q", i, m)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("%d of %d messages arrived, then none for two minutes; publisher %+v; receiver %+v",
				i, sent, pub.Stats(), sub.Stats())
		}
	}
	ps, ss := pub.Stats(), sub.Stats()
	if ps.PublishFailures != 0 || ss.Lost != 0 {
		t.Fatalf("publisher %+v; receiver %+v: want no failure and nothing lost", ps, ss)
	}
	t.Logf("%d broadcasts at %d a second across a %v outage, every one delivered once, in order; receiver %+v",
		sent, rate, outage, ss)
}

// broadcastFor broadcasts rate messages a second for d, numbered on from
// *sent, counting the refused ones.
func broadcastFor(t *testing.T, h *hub.Hub[string], d time.Duration, rate int, sent, refused *int, pad string) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start, first := time.Now(), *sent
	for time.Since(start) < d {
		<-tick.C
		// Catch up with the rate, whatever the ticker's jitter.
		for due := first + int(time.Since(start).Seconds()*float64(rate)); *sent < due; *sent++ {
			if err := h.Broadcast("room", fmt.Sprintf("%011d %s", *sent, pad)); err != nil {
				*refused++
			}
		}
	}
}
