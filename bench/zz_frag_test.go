package bench

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func BenchmarkZZFrag(b *testing.B) {
	for _, c := range idleContenders {
		if c.name != "ours-nethttp" && c.name != "coder" {
			continue
		}
		run(b, c, func(b *testing.B, s *server) {
			idleRound(b, s, 2000, nil)
			var ms runtime.MemStats
			snap := func(tag string) {
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&ms)
				fmt.Printf("%s %s: inuse %d alloc %d unused %d\n", c.name, tag, ms.HeapInuse, ms.HeapAlloc, ms.HeapInuse-ms.HeapAlloc)
			}
			snap("base")
			leave := idleClients(b, s, 2000)
			waitOpen(b, s, 2000)
			snap("open")
			time.Sleep(1500 * time.Millisecond)
			snap("parked")
			leave()
			waitOpen(b, s, 0)
		})
	}
}
