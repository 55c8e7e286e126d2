package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
	"gopkg.in/macaron.v1"
)

// bothFronts serves serve on the net/http front and on Macaron's (with the
// Conn a Macaron handler makes from what is injected into it), at /ws.
func bothFronts[T any](serve func(*wschan.Conn[*T])) map[string]http.Handler {
	o := &sockets.Options{SkipLogging: true}
	m := macaron.New()
	var zero T
	m.Get("/ws", sockets.JSON(zero, o),
		func(conn *sockets.Connection, out chan<- *T, disconnect chan<- int, done <-chan bool) {
			serve(&wschan.Conn[*T]{Sender: out, Disconnect: disconnect, Done: done, Connection: conn})
		})
	return map[string]http.Handler{"net/http": wschan.Handler(serve, o), "macaron": m}
}

// counted counts its encodings.
type counted struct {
	Text  string
	calls *atomic.Int64
}

func (c *counted) MarshalJSON() ([]byte, error) {
	c.calls.Add(1)
	return json.Marshal(map[string]string{"text": c.Text})
}

// TestBroadcastEncodedOnce: a JSON value broadcast to 50 members over real
// sockets is encoded once, not once per member, on both fronts.
func TestBroadcastEncodedOnce(t *testing.T) {
	const members = 50
	h := New[*counted](Options{Logger: quiet()})
	defer h.Close()
	joined := make(chan struct{}, members)
	fronts := bothFronts(func(c *wschan.Conn[*counted]) {
		m, _ := h.JoinConn("r", "", c)
		joined <- struct{}{}
		<-c.Done
		m.Leave()
	})
	for name, handler := range fronts {
		t.Run(name, func(t *testing.T) {
			srv := sockettest.NewServer(t, handler)
			var clients []*sockettest.Client
			for range members {
				clients = append(clients, srv.Dial("/ws"))
				<-joined
			}
			calls := &atomic.Int64{}
			h.Broadcast("r", &counted{Text: "hi", calls: calls})
			for _, c := range clients {
				c.ExpectText("{\"text\":\"hi\"}\n")
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("a broadcast to %d members was encoded %d times, want once", members, n)
			}
			for _, c := range clients {
				c.Close(1000, "")
			}
		})
	}
}

// TestEncodedOnceStress: 300 rounds in which two publishers broadcast five
// distinct values each, with HTML characters, U+2028, invalid UTF-8 and
// non-ASCII text, to eight members over real sockets, 3000 broadcasts in
// all. Every member must receive every value once, in each publisher's
// order, as exactly the bytes encoding/json's Encoder writes for it, and
// each value must be encoded once.
func TestEncodedOnceStress(t *testing.T) {
	const (
		members   = 8
		rounds    = 300
		perRound  = 5
		publisher = 2
	)
	h := New[*counted](Options{Logger: quiet(), QueueSize: 2 * publisher * perRound})
	defer h.Close()
	joined := make(chan struct{}, members)
	srv := sockettest.NewServer(t, wschan.Handler(func(c *wschan.Conn[*counted]) {
		m, _ := h.JoinConn("r", "", c)
		joined <- struct{}{}
		<-c.Done
		m.Leave()
	}, &sockets.Options{SkipLogging: true}))
	var clients []*sockettest.Client
	for range members {
		clients = append(clients, srv.Dial("/ws"))
		<-joined
	}
	texts := []string{"<b>&amp;</b>", "line\u2028sep", "bad \xff byte", "é ✓ 日本", ""}
	for round := range rounds {
		values := make([][]*counted, publisher)
		want := map[string]string{} // id -> the bytes on the wire
		for p := range values {
			for i := range perRound {
				text := fmt.Sprint(texts[(round+i)%len(texts)], " ", p, ".", round, ".", i)
				v := &counted{Text: text, calls: &atomic.Int64{}}
				values[p] = append(values[p], v)
				var b bytes.Buffer
				_ = json.NewEncoder(&b).Encode(&counted{Text: text, calls: &atomic.Int64{}})
				want[fmt.Sprint(p, ".", round, ".", i)] = b.String()
			}
		}
		var wg sync.WaitGroup
		for p := range values {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, v := range values[p] {
					h.Broadcast("r", v)
				}
			}()
		}
		wg.Wait()
		for ci, c := range clients {
			next := make([]int, publisher) // each publisher's next index
			for range publisher * perRound {
				m := c.Next()
				var got struct{ Text string }
				if err := json.Unmarshal(m.Data, &got); err != nil {
					t.Fatalf("round %d, client %d: %q: %v", round, ci, m.Data, err)
				}
				var p, r, i int
				if _, err := fmt.Sscanf(got.Text[strings.LastIndexByte(got.Text, ' ')+1:], "%d.%d.%d", &p, &r, &i); err != nil || r != round {
					t.Fatalf("round %d, client %d: unexpected %q", round, ci, m.Data)
				}
				if i != next[p] {
					t.Fatalf("round %d, client %d: publisher %d's value %d came before %d", round, ci, p, i, next[p])
				}
				next[p]++
				if w := want[fmt.Sprint(p, ".", r, ".", i)]; string(m.Data) != w {
					t.Fatalf("round %d, client %d: got %q, want %q", round, ci, m.Data, w)
				}
			}
		}
		for p := range values {
			for i, v := range values[p] {
				if n := v.calls.Load(); n != 1 {
					t.Fatalf("round %d: publisher %d's value %d was encoded %d times, want once", round, p, i, n)
				}
			}
		}
	}
	for _, c := range clients {
		c.Close(1000, "")
	}
}
