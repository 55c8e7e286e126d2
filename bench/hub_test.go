package bench

import (
	"io"
	"log"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-macaron/sockets/hub"
	redisbp "github.com/go-macaron/sockets/hub/redis"
	"github.com/go-macaron/sockets/wschan"
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

// roomMsg is a chat message as a JSON broadcast, with the position the
// hub fills when it keeps a history.
type roomMsg struct {
	From string `json:"from"`
	Text string `json:"text"`
	ID   string `json:"id,omitempty"`
}

func (m *roomMsg) SetPosition(p hub.Position) { m.ID = p.String() }

// BenchmarkHubHistory: one JSON message to a room of 200 WebSocket
// members (JoinConn, encoded once), with the memory hub's history off and
// on: what keeping, numbering and stamping cost a broadcast as the chat
// makes it. An op is one message read by all 200 clients.
func BenchmarkHubHistory(b *testing.B) {
	const members = 200
	for _, history := range []int{0, 1000} {
		b.Run("history="+strconv.Itoa(history), func(b *testing.B) {
			h := hub.New[*roomMsg](hub.Options{Logger: log.New(io.Discard, "", 0), History: history})
			defer h.Close()
			var open atomic.Int64
			mux := http.NewServeMux()
			mux.Handle("/ws", wschan.Handler(func(c *wschan.Conn[*roomMsg]) {
				m, err := h.JoinConn("room", "", c)
				if err != nil {
					return
				}
				open.Add(1)
				defer open.Add(-1)
				defer m.Leave()
				<-c.Done
			}, &wschan.Options{Logger: log.New(io.Discard, "", 0)}))
			s := httpServer(mux, &open, nil)
			defer s.close()
			cls := dialAll(b, s, members)
			waitOpen(b, s, members)
			measureBroadcasts(b, cls, func(i int) {
				h.Broadcast("room", &roomMsg{From: "ann", Text: "hello, room, message " + strconv.Itoa(i)})
			})
		})
	}
}
