package hub

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkBroadcastHistory: deliveries per second to a room of 16
// members that keep reading, with the history off and on (what numbering,
// keeping and stamping cost a broadcast).
func BenchmarkBroadcastHistory(b *testing.B) {
	for _, history := range []int{0, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			h := New[*tick](Options{History: history, Logger: quiet()})
			defer h.Close()
			const members = 16
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for i := range members {
				c := newTickConn(1024)
				h.Join("r", fmt.Sprint(i), c.sender, c.disconnect, c.done)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-c.sender:
						case <-stop:
							return
						}
					}
				}()
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				h.Broadcast("r", &tick{N: i})
			}
			b.ReportMetric(float64(b.N*members)/time.Since(start).Seconds(), "deliveries/s")
			b.StopTimer()
			close(stop)
			wg.Wait()
		})
	}
}

// BenchmarkReplay: a member rejoining from the start of a history of n
// broadcasts, replayed into its backlog (ms per replay), and the heap a
// room's history of n broadcasts holds (bytes per kept broadcast).
func BenchmarkReplay(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h := New[*tick](Options{History: n, MaxBacklog: 2 * n, Logger: quiet()})
			defer h.Close()
			for i := range n {
				h.Broadcast("r", &tick{N: i})
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			_, pos := h.Recent("r", 0)
			from := Position{Epoch: pos.Epoch, Offset: pos.Offset - uint64(n)}.String()
			b.ResetTimer()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				c := newTickConn(0)
				start := time.Now()
				m, rec, _ := h.JoinFrom("r", "late", c.sender, c.disconnect, c.done, from)
				total += time.Since(start)
				if rec.Replayed != n {
					b.Fatalf("%+v", rec)
				}
				m.Leave()
			}
			b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/replay")
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "B/kept")
		})
	}
}
