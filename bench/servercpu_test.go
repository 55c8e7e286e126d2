package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuContenders are the servers whose CPU per handshake and per echo is
// compared: both of our fronts, raw coder (our transport's floor), raw
// coder inside Macaron (Macaron's own share) and the peers.
var cpuContenders = func() []contender {
	var out []contender
	for _, c := range echoContenders {
		switch c.name {
		case "ours-messages", "ours-nethttp", "coder", "gorilla", "melody", "gws":
			out = append(out, c)
		}
	}
	return append(out, coderMacaron)
}()

// coderMacaron is raw coder inside a Macaron route (coderMacaronServer).
var coderMacaron = contender{"coder-macaron", coderMacaronServer}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkServerCPU: the server's CPU alone, the clients running in a
// process of their own (TestCPUClients), so that what this process spends
// is the server's: per handshake (connections opened in bursts of 50, each
// closed after its handshake; with handshakes/s), per 32-byte echo (one
// connection, one message in flight) and per pipelined 16 KiB echo (64
// connections, up to 16 messages in flight each; with MB/s). An op is one
// handshake or one echoed message.
func BenchmarkServerCPU(b *testing.B) {
	for _, work := range []string{"handshake", "echo32", "pipe16k"} {
		b.Run("work="+work, func(b *testing.B) {
			for _, c := range cpuContenders {
				run(b, c, func(b *testing.B, s *server) {
					n := b.N
					cpu, wall := cpuClients(b, s, work, n)
					b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(n), "server-cpu-µs/op")
					b.ReportMetric(float64(n)/wall.Seconds(), "ops/s")
					if work == "pipe16k" {
						b.ReportMetric(float64(n)*pipeSize/wall.Seconds()/1e6, "MB/s")
					}
					if work == "handshake" {
						waitOpen(b, s, 0)
					}
				})
			}
		})
	}
}

// cpuClients runs n operations of work against s from a client process
// (this test binary again, running TestCPUClients) and returns the CPU
// this process used meanwhile, and how long the operations took.
func cpuClients(b *testing.B, s *server, work string, n int) (cpu, wall time.Duration) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestCPUClients$", "-test.bench=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BENCH_CPU_ADDR="+s.addr, "BENCH_CPU_PATH="+s.path,
		"BENCH_CPU_WORK="+work, "BENCH_CPU_N="+strconv.Itoa(n))
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
	kill := time.AfterFunc(5*time.Minute, func() { _ = cmd.Process.Kill() })
	defer kill.Stop()
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && lines.Text() != "ready" {
	}
	if lines.Text() != "ready" {
		_ = cmd.Wait()
		b.Fatal("the client process did not start")
	}
	b.ResetTimer()
	before := processCPU()
	start := time.Now()
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		b.Fatal(err)
	}
	for lines.Scan() && lines.Text() != "done" {
	}
	wall = time.Since(start)
	cpu = processCPU() - before
	b.StopTimer()
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil || lines.Text() != "done" {
		b.Fatalf("the client process: %v", err)
	}
	return cpu, wall
}

// TestCPUClients is BenchmarkServerCPU's client process: it prepares
// (dials, for an echo), says "ready", waits for a line on stdin, runs
// $BENCH_CPU_N operations of $BENCH_CPU_WORK and says "done".
func TestCPUClients(t *testing.T) {
	addr, path := os.Getenv("BENCH_CPU_ADDR"), os.Getenv("BENCH_CPU_PATH")
	if addr == "" {
		t.Skip("BenchmarkServerCPU's client process")
	}
	n, err := strconv.Atoi(os.Getenv("BENCH_CPU_N"))
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("BENCH_CPU_WORK") == "pipe16k" {
		pipeClients(t, addr, path, n)
		return
	}
	var cl *wsClient
	if os.Getenv("BENCH_CPU_WORK") == "echo32" {
		if cl, err = dialWS(addr, path); err != nil {
			t.Fatal(err)
		}
		defer cl.close()
		cl.setMessage(0x1, bytes.Repeat([]byte{'x'}, 32))
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	if cl != nil {
		for range n {
			if err := cl.send(); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.recv(); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Println("done")
		return
	}
	if err := handshakes(addr, path, n, 50); err != nil {
		t.Fatal(err)
	}
	fmt.Println("done")
}

// pipeSize is the pipelined echo's message size.
const pipeSize = 16 << 10

// pipeClients is TestCPUClients for pipe16k: 64 connections, n messages
// in all, up to 16 in flight on each.
func pipeClients(t *testing.T, addr, path string, n int) {
	const clients, window = 64, 16
	cls := make([]*wsClient, clients)
	for i := range cls {
		c, err := dialWS(addr, path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		c.setMessage(0x1, bytes.Repeat([]byte{'x'}, pipeSize))
		cls[i] = c
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, cl := range cls {
		k := n / clients
		if i < n%clients {
			k++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pipelineN(cl, k, window); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fmt.Println("done")
}

// pipelineN sends n messages on cl with at most window in flight, and
// reads the echoes.
func pipelineN(cl *wsClient, n, window int) error {
	credits := make(chan struct{}, window)
	errc := make(chan error, 1)
	go func() {
		for range n {
			credits <- struct{}{}
			if err := cl.send(); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range n {
		if _, err := cl.recv(); err != nil {
			return err
		}
		<-credits
	}
	return <-errc
}
