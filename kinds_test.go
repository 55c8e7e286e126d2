package sockets_test

import (
	"bytes"
	"testing"

	"github.com/coder/websocket"
	"gopkg.in/macaron.v1"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// Named types of string and byte-slice kind, as programs declare them.
type (
	label string
	blob  []byte
	ints  []int
)

// TestKindRule: one rule decides the frames on both fronts, by kind: a type
// of string kind is raw text, a slice of bytes raw binary, anything else
// JSON. JSON(label("")) binds string channels (as the original's JSON did);
// Handler[label] and Handler[blob] carry the named types, raw.
func TestKindRule(t *testing.T) {
	o := &sockets.Options{SkipLogging: true}
	t.Run("Handler[label]", func(t *testing.T) {
		srv := sockettest.NewServer(t, wschan.Handler(func(c *wschan.Conn[label]) {
			relay(c, func(v label) label { return v + "!" })
		}, o))
		c := srv.Dial("/ws")
		c.SendText(`{"not":"json"}`)
		c.ExpectText(`{"not":"json"}!`)
		c.SendBinary([]byte("bin"))
		c.ExpectText("bin!")
	})
	t.Run("Handler[blob]", func(t *testing.T) {
		srv := sockettest.NewServer(t, wschan.Handler(func(c *wschan.Conn[blob]) {
			relay(c, func(v blob) blob { return append(v, 0xff) })
		}, o))
		c := srv.Dial("/ws")
		c.SendText("raw")
		c.ExpectBinary([]byte("raw\xff"))
	})
	t.Run("Handler[ints]", func(t *testing.T) {
		srv := sockettest.NewServer(t, wschan.Handler(func(c *wschan.Conn[ints]) {
			relay(c, func(v ints) ints { return append(v, len(v)) })
		}, o))
		c := srv.Dial("/ws")
		c.SendText("[7,8]")
		c.ExpectText("[7,8,2]\n")
	})
	t.Run("JSON(label)", func(t *testing.T) {
		f := macaronFront[string](func(o *sockets.Options) macaron.Handler { return sockets.JSON(label(""), o) })
		srv := sockettest.NewServer(t, f.serve(o, func(c *wschan.Conn[string]) {
			relay(c, func(v string) string { return v + "!" })
		}))
		c := srv.Dial("/ws")
		c.SendText(`"quoted"`)
		c.ExpectText(`"quoted"!`)
	})
	t.Run("JSON(blob)", func(t *testing.T) {
		f := macaronFront[[]byte](func(o *sockets.Options) macaron.Handler { return sockets.JSON(blob{}, o) })
		srv := sockettest.NewServer(t, f.serve(o, func(c *wschan.Conn[[]byte]) {
			relay(c, func(v []byte) []byte { return append(v, '!') })
		}))
		c := srv.Dial("/ws")
		c.SendText("raw")
		if m := c.Next(); m.Type != websocket.MessageBinary || !bytes.Equal(m.Data, []byte("raw!")) {
			t.Fatalf("got %v, want binary \"raw!\"", m)
		}
	})
}

// relay sends back f of every message until the connection ends.
func relay[T any](c *wschan.Conn[T], f func(T) T) {
	for {
		select {
		case v := <-c.Receiver:
			c.Sender <- f(v)
		case <-c.Done:
			return
		}
	}
}
