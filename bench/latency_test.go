package bench

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkLatency: 10 connections, each sending 500 messages of 32 bytes a
// second, one at a time; b.N messages in all. It reports round-trip
// percentiles.
func BenchmarkLatency(b *testing.B) {
	const conns, rate = 10, 500
	for _, c := range echoContenders {
		run(b, c, func(b *testing.B, s *server) {
			cls := dialAll(b, s, conns)
			defer func() {
				for _, cl := range cls {
					cl.close()
				}
			}()
			rtts := make([][]time.Duration, conns)
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, cl := range cls {
				n := b.N / conns
				if i < b.N%conns {
					n++
				}
				cl.setMessage(0x1, bytes.Repeat([]byte{'x'}, 32))
				rtts[i] = make([]time.Duration, 0, n)
				wg.Add(1)
				go func() {
					defer wg.Done()
					tick := time.NewTicker(time.Second / rate)
					defer tick.Stop()
					for range n {
						<-tick.C
						t0 := time.Now()
						if err := cl.send(); err != nil {
							b.Error(err)
							return
						}
						if _, err := cl.recv(); err != nil {
							b.Error(err)
							return
						}
						rtts[i] = append(rtts[i], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			all := slices.Concat(rtts...)
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			at := func(q float64) float64 {
				return float64(all[min(len(all)-1, int(q*float64(len(all))))].Microseconds())
			}
			b.ReportMetric(at(0.50), "p50-µs")
			b.ReportMetric(at(0.99), "p99-µs")
			b.ReportMetric(at(0.999), "p99.9-µs")
		})
	}
}

// BenchmarkBroadcast: one 32-byte message to 1000 connected receivers, the
// chat example's pattern; an op is one message delivered to all of them.
func BenchmarkBroadcast(b *testing.B) {
	const receivers = 1000
	for _, c := range echoContenders {
		run(b, c, func(b *testing.B, s *server) {
			cls := dialAll(b, s, receivers)
			waitOpen(b, s, receivers)
			msg := bytes.Repeat([]byte{'b'}, 32)
			measureBroadcasts(b, cls, func(int) { s.broadcast(msg) })
		})
	}
}

// measureBroadcasts times b.N calls of broadcast, each one message to
// every client, waiting until every client has read it; it reports
// deliveries/s, then closes the clients.
func measureBroadcasts(b *testing.B, cls []*wsClient, broadcast func(i int)) {
	got := make(chan struct{}, len(cls))
	var wg sync.WaitGroup
	for _, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := cl.recv(); err != nil {
					return
				}
				got <- struct{}{}
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		broadcast(i)
		for range cls {
			<-got
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(cls))/b.Elapsed().Seconds(), "deliveries/s")
	for _, cl := range cls {
		cl.close()
	}
	wg.Wait()
}
