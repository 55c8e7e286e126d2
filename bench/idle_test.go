package bench

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/hub"
	"gopkg.in/macaron.v1"
	"runtime"
	"sync"
	"testing"
	"time"
)

// heapAndStacks returns the bytes in use by the heap (spans in use, and
// live objects) and by goroutine stacks after two collections.
func heapAndStacks() (heap, live, stacks uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.HeapAlloc, ms.StackInuse
}

// waitGoroutines waits, bounded, until at most n goroutines run.
func waitGoroutines(n int) int {
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return runtime.NumGoroutine()
}

// idleFor is how long BenchmarkIdle's connections have been idle when it
// measures them.
const idleFor = 1500 * time.Millisecond

// idleContenders are the echo servers, of ours a chat connection (a member
// of a hub room, as in the example), and raw coder inside Macaron.
var idleContenders = append(slices.Clip(echoContenders), contender{"ours-chat", oursChatServer}, coderMacaron)

// oursChatServer is this package's middleware behind Macaron, each
// connection a member of one hub room, broadcasting what it receives to it.
func oursChatServer() *server {
	h := hub.New[string](hub.Options{Logger: log.New(io.Discard, "", 0)})
	var open atomic.Int64
	m := macaron.New()
	m.Get("/ws", sockets.Messages(quiet()), func(in <-chan string, out chan<- string, disc chan<- int, done <-chan bool) {
		open.Add(1)
		defer open.Add(-1)
		me, _ := h.Join("lobby", "", out, disc, done)
		defer me.Leave()
		for {
			select {
			case v := <-in:
				h.Broadcast("lobby", v)
			case <-done:
				return
			}
		}
	})
	s := httpServer(m, &open, nil)
	stop := s.close
	s.close = func() {
		stop()
		h.Close()
	}
	return s
}

// BenchmarkIdle: 2000 open idle connections. It reports the bytes (heap and
// stacks) and goroutines each connection costs the server (the clients run
// in a process of their own, TestIdleClients; "tcp" shows the floor of a
// goroutine and a 4 KiB buffer per connection), and the goroutines left
// once all are closed. live-B/conn counts live heap objects instead of heap
// spans in use (B/conn), which also hold the free room that other
// connections' freed objects left in them.
//
// Each server first serves one unmeasured round of the same connections,
// as a server that has run a while has: what the process keeps once it
// has grown to a load (the runtime's goroutine records, freed stacks and
// spans, pools) is then in the baseline for every contender alike, and
// the figure is what a connection costs in a steady state, not which
// contender happened to run first in the process.
func BenchmarkIdle(b *testing.B) {
	const conns = 2000
	if os.Getenv("BENCH_IDLE_HEAP") != "" {
		defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1 // every allocation of the idle connections
	}
	for _, c := range idleContenders {
		run(b, c, func(b *testing.B, s *server) {
			idleRound(b, s, conns, nil) // the warm-up
			for i := 0; i < b.N; i++ {
				baseG := runtime.NumGoroutine()
				baseH, baseL, baseS := heapAndStacks()
				var heap, live, stacks uint64
				var g int
				left := idleRound(b, s, conns, func() {
					heap, live, stacks = heapAndStacks()
					g = runtime.NumGoroutine()
					writeIdleHeap(b, c.name)
				}) - baseG
				b.ReportMetric(float64(heap+stacks-baseH-baseS)/conns, "B/conn")
				b.ReportMetric(float64(live+stacks-baseL-baseS)/conns, "live-B/conn")
				b.ReportMetric(float64(stacks-baseS)/conns, "stack-B/conn")
				b.ReportMetric(float64(g-baseG)/conns, "goroutines/conn")
				b.ReportMetric(float64(left), "goroutines-left")
			}
		})
	}
}

// idleRound opens n connections to s, leaves them idle for idleFor (ours
// parks an idle connection's loops after one second), calls measure (when
// not nil), closes them, and returns the goroutines running once the
// server has let them go (bounded wait for as many as before the round).
func idleRound(b *testing.B, s *server, n int, measure func()) int {
	before := runtime.NumGoroutine()
	leave := idleClients(b, s, n)
	waitOpen(b, s, int64(n))
	time.Sleep(idleFor)
	if measure != nil {
		measure()
	}
	leave()
	waitOpen(b, s, 0)
	return waitGoroutines(before)
}

// writeIdleHeap writes, when $BENCH_IDLE_HEAP names a directory, the heap
// profile of the idle connections (idle-<contender>.heap): what each
// owner holds, for bench/README's breakdown. Take it with -benchtime 1x.
func writeIdleHeap(b *testing.B, name string) {
	dir := os.Getenv("BENCH_IDLE_HEAP")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, "idle-"+name+".heap"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// idleClients opens n connections to s from a client process (this test
// binary again, running TestIdleClients) and returns once they are open;
// the returned func closes them and waits for the process to exit.
func idleClients(b *testing.B, s *server, n int) (leave func()) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestIdleClients$", "-test.bench=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BENCH_IDLE_ADDR="+s.addr, "BENCH_IDLE_PATH="+s.path,
		"BENCH_IDLE_CONNS="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// Bounded: the process is killed if it neither connects nor exits in time.
	kill := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && lines.Text() != "ready" {
	}
	if lines.Text() != "ready" {
		_ = cmd.Wait()
		b.Fatal("the client process did not open its connections")
	}
	return func() {
		_ = stdin.Close() // the client process closes its connections and exits
		for lines.Scan() {
		}
		if err := cmd.Wait(); err != nil {
			b.Errorf("the client process: %v", err)
		}
		kill.Stop()
	}
}

// TestIdleClients is BenchmarkIdle's client process: it opens
// $BENCH_IDLE_CONNS connections, says "ready", and holds them, without
// reading, until its stdin is closed.
func TestIdleClients(t *testing.T) {
	addr := os.Getenv("BENCH_IDLE_ADDR")
	if addr == "" {
		t.Skip("BenchmarkIdle's client process")
	}
	n, err := strconv.Atoi(os.Getenv("BENCH_IDLE_CONNS"))
	if err != nil {
		t.Fatal(err)
	}
	cls := make([]*wsClient, 0, n)
	for range n {
		c, err := dialWS(addr, os.Getenv("BENCH_IDLE_PATH"))
		if err != nil {
			t.Fatal(err)
		}
		cls = append(cls, c)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range cls {
		c.close()
	}
}

// handshakes opens n connections to addr's path, each closed after its
// handshake, burst at once at a time, and returns the first failure.
func handshakes(addr, path string, n, burst int) error {
	for done := 0; done < n; {
		k := min(burst, n-done)
		var wg sync.WaitGroup
		errs := make(chan error, k)
		for range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl, err := dialWS(addr, path)
				if err != nil {
					errs <- err
					return
				}
				cl.reset()
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		done += k
	}
	return nil
}

// BenchmarkHandshake: connections opened in bursts of up to 1000 at once,
// each closed right after its handshake.
func BenchmarkHandshake(b *testing.B) {
	const burst = 1000
	for _, c := range echoContenders {
		run(b, c, func(b *testing.B, s *server) {
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if err := handshakes(s.addr, s.path, b.N, burst); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
			b.StopTimer()
			waitOpen(b, s, 0)
		})
	}
}
