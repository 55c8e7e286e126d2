package bench

import (
	"io"
	"log"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/go-macaron/sockets/hub"
	redisbp "github.com/go-macaron/sockets/hub/redis"
	goredis "github.com/redis/go-redis/v9"
)

// startRedis runs redis-server on a free loopback port until the benchmark
// ends; it skips the benchmark where redis-server is not installed.
func startRedis(b *testing.B) string {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		b.Skip("redis-server not found (Debian's redis-server package)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			b.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkHub: one message to a room of 1000 members, delivered by the
// in-memory hub, or published by one server and delivered through Redis by
// another. An op is one message delivered to all 1000.
func BenchmarkHub(b *testing.B) {
	const members = 1000
	quiet := log.New(io.Discard, "", 0)
	for _, mode := range []string{"memory", "redis"} {
		b.Run("backplane="+mode, func(b *testing.B) {
			opts := hub.Options{Logger: quiet, QueueSize: 256}
			pub := hub.New[string](opts)
			sub := pub
			ready := make(chan struct{}, 4)
			if mode == "redis" {
				addr := startRedis(b)
				newHub := func() *hub.Hub[string] {
					rdb := goredis.NewClient(&goredis.Options{Addr: addr})
					b.Cleanup(func() { _ = rdb.Close() })
					o := opts
					o.Backplane = redisbp.New(rdb, redisbp.Options{Logger: quiet, OnSubscribe: func(string) { ready <- struct{}{} }})
					return hub.New[string](o)
				}
				pub.Close()
				pub, sub = newHub(), newHub()
				defer pub.Close()
			}
			defer sub.Close()
			got := make(chan struct{}, members)
			done := make(chan bool)
			for i := range members {
				sender := make(chan string, 64)
				sub.Join("room", strconv.Itoa(i), sender, make(chan int, 1), done)
				go func() {
					for {
						select {
						case <-sender:
							got <- struct{}{}
						case <-done:
							return
						}
					}
				}()
			}
			defer close(done)
			if mode == "redis" {
				<-ready // sub subscribed to the room with its first member
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pub.Broadcast("room", "hello, room")
				for range members {
					<-got
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			deliveries := float64(b.N) * members
			b.ReportMetric(deliveries/b.Elapsed().Seconds(), "deliveries/s")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
		})
	}
}
