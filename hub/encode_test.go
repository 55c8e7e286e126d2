package hub

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/sockettest"
	"gopkg.in/macaron.v1"
)

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
	serve := func(sender chan<- *counted, disconnect chan<- int, done <-chan bool) {
		m := h.Join("r", "", sender, disconnect, done)
		joined <- struct{}{}
		<-done
		m.Leave()
	}
	fronts := map[string]http.Handler{
		"net/http": sockets.Handler(func(c *sockets.Conn[*counted]) { serve(c.Sender, c.Disconnect, c.Done) },
			&sockets.Options{SkipLogging: true}),
	}
	m := macaron.New()
	m.Get("/ws", sockets.JSON(counted{}, &sockets.Options{SkipLogging: true}),
		func(out chan<- *counted, disconnect chan<- int, done <-chan bool) { serve(out, disconnect, done) })
	fronts["macaron"] = m
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
