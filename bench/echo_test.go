package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-macaron/sockets"
)

// sizes are the message sizes of the echo benchmarks.
var sizes = []int{32, 16 << 10}

// waitOpen waits until s holds n connections.
func waitOpen(tb testing.TB, s *server, n int64) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.open.Load() != n {
		if time.Now().After(deadline) {
			tb.Fatalf("server holds %d connections, want %d", s.open.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// run starts c, runs f against it, then closes every client and the server.
func run(b *testing.B, c contender, f func(b *testing.B, s *server)) {
	b.Run("server="+c.name, func(b *testing.B) {
		s := c.start()
		defer s.close()
		f(b, s)
	})
}

// BenchmarkEcho: one client, one message in flight.
func BenchmarkEcho(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			for _, c := range echoContenders {
				run(b, c, func(b *testing.B, s *server) { echo(b, s, bytes.Repeat([]byte{'x'}, size)) })
			}
		})
	}
}

// echo sends payload and reads the echo, b.N times, over one connection.
func echo(b *testing.B, s *server, payload []byte) {
	cl := dialAll(b, s, 1)[0]
	defer cl.close()
	cl.setMessage(0x1, payload)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := cl.send(); err != nil {
			b.Fatal(err)
		}
		if _, err := cl.recv(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelined: 64 clients, up to 16 messages in flight each.
func BenchmarkPipelined(b *testing.B) {
	const clients, window = 64, 16
	for _, size := range sizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			for _, c := range echoContenders {
				run(b, c, func(b *testing.B, s *server) {
					cls := dialAll(b, s, clients)
					defer func() {
						for _, cl := range cls {
							cl.close()
						}
					}()
					payload := bytes.Repeat([]byte{'x'}, size)
					for _, cl := range cls {
						cl.setMessage(0x1, payload)
					}
					b.SetBytes(int64(size))
					b.ReportAllocs()
					b.ResetTimer()
					start := time.Now()
					var wg sync.WaitGroup
					for i, cl := range cls {
						n := b.N / clients
						if i < b.N%clients {
							n++
						}
						wg.Add(1)
						go func() {
							defer wg.Done()
							pipeline(b, cl, n, window)
						}()
					}
					wg.Wait()
					b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
				})
			}
		})
	}
}

// pipeline sends n messages with at most window in flight and reads the
// echoes.
func pipeline(b *testing.B, cl *wsClient, n, window int) {
	credits := make(chan struct{}, window)
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			credits <- struct{}{}
			if err := cl.send(); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := 0; i < n; i++ {
		if _, err := cl.recv(); err != nil {
			b.Error(err)
			return
		}
		<-credits
	}
	if err := <-errc; err != nil {
		b.Error(err)
	}
}

// jsonContenders echo Doc values; "coder" echoes the same bytes raw, the
// reference the targets are set against.
var jsonContenders = []contender{
	{"ours-json", func() *server { return oursServer[*Doc](sockets.JSON(Doc{}, quiet()), nil) }},
	{"coder-json", coderJSONServer},
	{"coder", coderServer},
}

// textContenders echo TextDoc values, and "coder" the same bytes raw.
var textContenders = []contender{
	{"ours-json", func() *server { return oursServer[*TextDoc](sockets.JSON(TextDoc{}, quiet()), nil) }},
	{"coder-json", coderJSONServerOf[TextDoc]},
	{"coder", coderServer},
}

// BenchmarkJSON: one client echoing a small and a 16 KiB structured JSON
// document (230 items), and a 16 KiB document of one text field.
func BenchmarkJSON(b *testing.B) {
	for _, doc := range []struct {
		name       string
		doc        any
		contenders []contender
	}{{"small", smallDoc(), jsonContenders}, {"16KiB", bigDoc(), jsonContenders}, {"16KiB-text", textDoc(), textContenders}} {
		payload, err := json.Marshal(doc.doc)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("doc="+doc.name, func(b *testing.B) {
			for _, c := range doc.contenders {
				run(b, c, func(b *testing.B, s *server) { echo(b, s, payload) })
			}
		})
	}
}
