package redis

import (
	"context"
	"fmt"
	"io"
	"log"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/go-macaron/sockets/hub"
)

// BenchmarkDurableHistory: broadcast deliveries per second over one Redis
// in Durable mode, two servers with 16 members each in one room, every
// broadcast from the first, with the history off (a server delivers its
// own broadcasts at once) and on (every server delivers in the stream's
// order, stamped with positions, its own after the round trip).
func BenchmarkDurableHistory(b *testing.B) {
	r := startRedis(b)
	for _, history := range []int{0, 1} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			var hubs []*hub.Hub[string]
			for range 2 {
				rdb := goredis.NewClient(&goredis.Options{Addr: r.addr()})
				bp := New(rdb, Options{Durable: true, Logger: log.New(io.Discard, "", 0), PollInterval: 20 * time.Millisecond,
					Prefix: fmt.Sprintf("bench%d:", history)})
				h := hub.New[string](hub.Options{Backplane: bp, History: history, Logger: log.New(io.Discard, "", 0), MaxBacklog: 1 << 20})
				defer rdb.Close()
				defer h.Close()
				hubs = append(hubs, h)
			}
			const perServer = 16
			var wg sync.WaitGroup
			var members []*hub.Member[string]
			for _, h := range hubs {
				for range perServer {
					ch := make(chan string, 1024)
					m, _ := h.Join("room", "", ch, make(chan int, 1), make(chan bool, 3))
					members = append(members, m)
					wg.Add(1)
					go func() {
						defer wg.Done()
						for n := 0; n < b.N; n++ {
							select {
							case <-ch:
							case <-time.After(30 * time.Second):
								b.Errorf("a member got %d of %d", n, b.N)
								return
							}
						}
					}()
				}
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				hubs[0].Broadcast("room", fmt.Sprint("message ", i))
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*2*perServer)/time.Since(start).Seconds(), "deliveries/s")
			b.StopTimer()
			for _, m := range members {
				m.Leave()
			}
		})
	}
}

// BenchmarkStreamReplay: a member rejoining a room from the start of a
// stream of n broadcasts, on a server that did not publish them: ms until
// the whole replay is in its sender (pages of 256 entries read from Redis),
// and the Redis memory the room's stream holds per broadcast (MEMORY
// USAGE), for a 40-byte message.
func BenchmarkStreamReplay(b *testing.B) {
	r := startRedis(b)
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			newHub := func() *hub.Hub[string] {
				rdb := goredis.NewClient(&goredis.Options{Addr: r.addr()})
				b.Cleanup(func() { _ = rdb.Close() })
				bp := New(rdb, Options{Durable: true, Logger: log.New(io.Discard, "", 0), PollInterval: 20 * time.Millisecond,
					StreamLength: int64(2 * n), Prefix: fmt.Sprintf("replay%d:", n)})
				h := hub.New[string](hub.Options{Backplane: bp, History: 1, MaxBacklog: 2 * n, Logger: log.New(io.Discard, "", 0)})
				b.Cleanup(h.Close)
				return h
			}
			pub, other := newHub(), newHub()
			// other reads the room already (one member stays): what is timed
			// is the replay, not the start of the room's reading.
			keep := make(chan string, 2*n)
			stay, err := other.Join("room", "stays", keep, make(chan int, 1), make(chan bool, 3))
			if err != nil {
				b.Fatal(err)
			}
			defer stay.Leave()
			_, start := pub.Recent("room", 0)
			msg := fmt.Sprintf("%040d", 0)
			for range n {
				pub.Broadcast("room", msg)
			}
			for deadline := time.Now().Add(time.Minute); pub.Stats().Published < int64(n); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("%+v: not published", pub.Stats())
				}
			}
			b.ResetTimer()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				sender := make(chan string, n+16)
				t0 := time.Now()
				m, rec, err := other.JoinFrom("room", "late", sender, make(chan int, 1), make(chan bool, 3), start.String())
				total += time.Since(t0)
				if err != nil || !rec.Recovered || rec.Replayed != n || len(sender) != n {
					b.Fatalf("%v %+v, %d in the sender", err, rec, len(sender))
				}
				m.Leave()
			}
			b.StopTimer()
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/replay")
			rdb := goredis.NewClient(&goredis.Options{Addr: r.addr()})
			defer rdb.Close()
			keys, err := rdb.Keys(context.Background(), fmt.Sprintf("replay%d:*", n)).Result()
			if err != nil {
				b.Fatal(err)
			}
			var bytes, entries int64
			for _, k := range keys {
				if t, _ := rdb.Type(context.Background(), k).Result(); t == "stream" {
					used, err := rdb.MemoryUsage(context.Background(), k, 0).Result()
					if err != nil {
						b.Fatal(err)
					}
					length, err := rdb.XLen(context.Background(), k).Result()
					if err != nil {
						b.Fatal(err)
					}
					bytes, entries = bytes+used, entries+length
				}
			}
			b.ReportMetric(float64(bytes)/float64(entries), "redis-B/broadcast")
		})
	}
}
