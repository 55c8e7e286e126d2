package bench

import (
	"testing"
	"time"
)

// BenchmarkHandoff: the channel contract's floor, without a socket. An op
// is one message through the path our echo takes: a read loop hands it to
// the handler (Receiver), the handler to the write loop (Sender), and the
// write loop's "write" wakes the read loop for the next one, as the
// client's next message would. Three goroutines, each parked while it
// waits; with cpu-µs/op, the process CPU per message. Run with -cpu 1,2:
// the difference is the runtime waking an idle P's thread at each
// hand-off.
func BenchmarkHandoff(b *testing.B) {
	receiver, sender, wire := make(chan string, 1), make(chan string, 1), make(chan string, 1)
	done := make(chan struct{})
	go func() { // the handler
		for {
			select {
			case v := <-receiver:
				sender <- v
			case <-done:
				return
			}
		}
	}()
	go func() { // the write loop
		for {
			select {
			case v := <-sender:
				wire <- v
			case <-done:
				return
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	before, start := processCPU(), time.Now()
	for i := 0; i < b.N; i++ { // the read loop
		receiver <- "x"
		<-wire
	}
	cpu := processCPU() - before
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "wall-ns/op")
	b.StopTimer()
	close(done)
}
