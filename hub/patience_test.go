package hub

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// TestPolicyAtPatienceInQuietRoom: a member whose connection stopped
// reading in the middle of one burst, in a room that then goes quiet, meets
// the Policy once Patience has passed, not at a next broadcast that never
// comes: Disconnect counts it and sends 1008, DropOldest drops its oldest
// values down to QueueSize. Over a real socket whose client never reads.
func TestPolicyAtPatienceInQuietRoom(t *testing.T) {
	for _, policy := range []Policy{Disconnect, DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			// MaxBacklog out of reach: only Patience can act.
			h := New[string](Options{QueueSize: 4, MaxBacklog: 1 << 20, Patience: 200 * time.Millisecond, Policy: policy, Logger: quiet()})
			defer h.Close()
			joined := make(chan *Member[string], 1)
			o := &wschan.Options{SkipLogging: true, WriteWait: time.Minute}
			srv := sockettest.NewServer(t, wschan.Handler(func(c *wschan.Conn[string]) {
				m, err := h.JoinConn("quiet", "stuck", c)
				if err != nil {
					t.Error(err)
				}
				joined <- m
				<-c.Done
			}, o))
			// A client that never reads.
			ws, _, err := websocket.Dial(context.Background(), srv.WebSocketURL("/ws"), &websocket.DialOptions{
				HTTPHeader: http.Header{"Origin": {strings.Replace(srv.WebSocketURL(""), "ws://", "http://", 1)}}})
			if err != nil {
				t.Fatal(err)
			}
			m := <-joined
			// A burst larger than the socket's buffers, the sender and
			// QueueSize together: the client reads none of it.
			big := strings.Repeat("x", 256<<10)
			for i := range 64 {
				h.Broadcast("quiet", fmt.Sprint(i, big))
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				st := h.Stats()
				if policy == Disconnect && st.Disconnected == 1 {
					break
				}
				if policy == DropOldest && st.Dropped > 0 {
					if w := m.waiting(); w > 4 {
						t.Fatalf("after the drop %d values wait, want at most QueueSize (4)", w)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("10 s after the burst, with Patience 200 ms, the policy has not acted (%d waiting): %+v", m.waiting(), st)
				}
				time.Sleep(10 * time.Millisecond) // polling an outcome, bounded above
			}
			_ = ws.CloseNow()
		})
	}
}
