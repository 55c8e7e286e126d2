package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-macaron/sockets/wschan"
)

// compressionModes are the server settings compared, each with a client
// (coder/websocket's) that offers the same.
var compressionModes = []struct {
	name      string
	opts      func(o *wschan.Options)
	client    websocket.CompressionMode
	threshold int
}{
	{"off", func(*wschan.Options) {}, websocket.CompressionDisabled, 0},
	{"no-takeover", func(o *wschan.Options) { o.Compression = true }, websocket.CompressionNoContextTakeover, 0},
	{"no-takeover-all", func(o *wschan.Options) { o.Compression, o.CompressionThreshold = true, 1 }, websocket.CompressionNoContextTakeover, 1},
	{"takeover", func(o *wschan.Options) { o.Compression, o.CompressionContextTakeover = true, true }, websocket.CompressionContextTakeover, 0},
	{"takeover-all", func(o *wschan.Options) {
		o.Compression, o.CompressionContextTakeover, o.CompressionThreshold = true, true, 1
	}, websocket.CompressionContextTakeover, 1},
}

// countingConn counts the bytes the client reads off the wire.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// compressionServer echoes values of T through the net/http front.
func compressionServer[T any](apply func(*wschan.Options)) (*httptest.Server, *atomic.Int64) {
	o := quiet()
	apply(o)
	open := &atomic.Int64{}
	h := wschan.Handler(func(c *wschan.Conn[T]) {
		open.Add(1)
		defer open.Add(-1)
		for {
			select {
			case v := <-c.Receiver:
				c.Sender <- v
			case <-c.Done:
				return
			}
		}
	}, o)
	return httptest.NewServer(h), open
}

func dialCompressed(b *testing.B, srv *httptest.Server, mode websocket.CompressionMode, threshold int, wire *atomic.Int64) *websocket.Conn {
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil || wire == nil {
			return c, err
		}
		return countingConn{c, wire}, nil
	}}
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: transport}, HTTPHeader: http.Header{"Origin": {srv.URL}},
		CompressionMode: mode, CompressionThreshold: threshold,
	})
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	return c
}

// BenchmarkCompression: per compression setting, the 16 KiB JSON echo
// (time and server-plus-client allocation per message), the bytes per idle
// connection (client side included: coder's client keeps flate state too
// with takeover), and the compression ratio of chat messages (bytes on the
// wire over payload bytes, server to client).
func BenchmarkCompression(b *testing.B) {
	doc, err := json.Marshal(bigDoc())
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range compressionModes {
		b.Run("mode="+m.name+"/op=json16KiB", func(b *testing.B) {
			srv, _ := compressionServer[*Doc](m.opts)
			defer srv.Close()
			c := dialCompressed(b, srv, m.client, m.threshold, nil)
			defer c.CloseNow()
			ctx := context.Background()
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := c.Write(ctx, websocket.MessageText, doc); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("mode="+m.name+"/op=idle", func(b *testing.B) {
			const conns = 300
			for range b.N {
				srv, open := compressionServer[*Doc](m.opts)
				baseH, _, baseS := heapAndStacks()
				cls := make([]*websocket.Conn, conns)
				ctx := context.Background()
				for i := range cls {
					cls[i] = dialCompressed(b, srv, m.client, m.threshold, nil)
					// One message each way, so that flate state exists.
					if err := cls[i].Write(ctx, websocket.MessageText, doc); err != nil {
						b.Fatal(err)
					}
					if _, _, err := cls[i].Read(ctx); err != nil {
						b.Fatal(err)
					}
				}
				heap, _, stacks := heapAndStacks()
				b.ReportMetric(float64(heap+stacks-baseH-baseS)/conns, "B/conn")
				for _, c := range cls {
					_ = c.Close(websocket.StatusNormalClosure, "")
				}
				for deadline := time.Now().Add(10 * time.Second); open.Load() > 0 && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond) // bounded: the handlers finish after the close handshakes
				}
				srv.Close()
			}
		})
		b.Run("mode="+m.name+"/op=chat", func(b *testing.B) {
			srv, _ := compressionServer[string](m.opts)
			defer srv.Close()
			wire := &atomic.Int64{}
			c := dialCompressed(b, srv, m.client, m.threshold, wire)
			defer c.CloseNow()
			ctx := context.Background()
			var payload int64
			b.ResetTimer()
			for i := range b.N {
				msg, _ := json.Marshal(chatMsg{Type: "message", From: fmt.Sprintf("user%d", i%7), Text: chatLines[i%len(chatLines)]})
				if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
					b.Fatal(err)
				}
				_, echo, err := c.Read(ctx)
				if err != nil {
					b.Fatal(err)
				}
				payload += int64(len(echo))
			}
			b.ReportMetric(float64(wire.Load())/float64(payload), "wire/payload")
		})
	}
}

// chatMsg is the example chat's message.
type chatMsg struct {
	Type string `json:"typ"`
	From string `json:"from"`
	Text string `json:"text"`
}

// chatLines are messages of the kind a chat room carries.
var chatLines = []string{
	"hi everyone, is the deploy still scheduled for this afternoon?",
	"yes, at 3 pm, after the database migration finishes",
	"great, I will keep an eye on the dashboards during the rollout",
	"the migration finished, all green on my side",
	"starting the deploy now, ping me if you see anything unusual",
	"deploy done, error rates look normal, thanks everyone",
	"nice work! lunch tomorrow to celebrate?",
}
