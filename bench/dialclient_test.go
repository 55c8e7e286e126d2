package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/wschan"
)

// BenchmarkClient: the client side, against one raw coder/websocket echo
// server: ours (wschan.Dial, byte slices) beside coder's raw client, a
// 32 B echo round trip at a time (ns/op is one round trip) and pipelined
// (64 messages sent, then 64 received; ns/op is one message).
func BenchmarkClient(b *testing.B) {
	srv := coderServer()
	defer srv.close()
	url := "ws://" + srv.addr + srv.path
	msg := make([]byte, 32)
	const window = 64
	for _, mode := range []string{"echo", "pipelined"} {
		b.Run(fmt.Sprintf("mode=%s/client=ours", mode), func(b *testing.B) {
			ctx := context.Background()
			c, _, err := wschan.Dial[[]byte](ctx, url, &wschan.DialOptions{Options: &wschan.Options{SkipLogging: true,
				SendChannelBuffer: window, RecvChannelBuffer: window}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			if mode == "echo" {
				for range b.N {
					c.Sender <- msg
					<-c.Receiver
				}
			} else {
				for n := 0; n < b.N; n += window {
					k := min(window, b.N-n)
					for range k {
						c.Sender <- msg
					}
					for range k {
						<-c.Receiver
					}
				}
			}
			b.StopTimer()
			close(c.Sender)
			<-c.Done
			for range c.Error {
			}
		})
		b.Run(fmt.Sprintf("mode=%s/client=coder", mode), func(b *testing.B) {
			ctx := context.Background()
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			b.ReportAllocs()
			b.ResetTimer()
			if mode == "echo" {
				for range b.N {
					if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
						b.Fatal(err)
					}
					if _, _, err := c.Read(ctx); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				for n := 0; n < b.N; n += window {
					k := min(window, b.N-n)
					done := make(chan error, 1)
					go func() {
						for range k {
							if _, _, err := c.Read(ctx); err != nil {
								done <- err
								return
							}
						}
						done <- nil
					}()
					for range k {
						if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
							b.Fatal(err)
						}
					}
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			_ = c.Close(websocket.StatusNormalClosure, "")
		})
	}
}
