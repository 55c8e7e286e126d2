package redis

import (
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
