package sockets

import (
	"net/http"
	"reflect"
	"sync"

	"gopkg.in/macaron.v1"

	"github.com/go-macaron/sockets/internal/kind"
)

// Messages returns a handler that upgrades the request to a WebSocket and
// injects into the next handler:
//
//	<-chan string  receiver: every message from the peer, text or binary
//	chan<- string  sender: each string goes out as one text frame
//	<-chan error   the cause of an abnormal end, before done fires
//	chan<- int     disconnect: a close code ends the connection
//	<-chan bool    done: true once the connection has ended, then closed
//
// Only the first Options argument is used. Requests that are not GET get 405,
// a disallowed Origin 403 and an invalid handshake 400; the next handler is
// then not called.
func Messages(options ...*Options) macaron.Handler {
	o := withDefaults(options)
	return newMiddleware(o, stringKind(o))
}

// ByteSliceMessages is Messages for byte slices: it injects <-chan []byte
// (every message from the peer, text or binary, as a new slice) and
// chan<- []byte (each slice goes out as one binary frame), with the same
// error, disconnect and done channels.
func ByteSliceMessages(options ...*Options) macaron.Handler {
	o := withDefaults(options)
	return newMiddleware(o, bytesKind(o))
}

// JSON is Messages for JSON values of bindStruct's type T: it injects
// <-chan *T (each message from the peer decoded into a new *T) and
// chan<- *T (each value goes out as one text frame of encoding/json Encoder
// output, trailing newline included), with the same error, disconnect and
// done channels. A value is encoded when the connection takes it from the
// sender, as it is then. A message that does not decode ends the connection
// with 1007; a value that cannot be encoded ends it with 1011 and sends
// nothing.
//
// As in the original, the kind of T decides: a string kind (string or a named
// string type) behaves exactly as Messages, and a slice kind exactly as
// ByteSliceMessages, without JSON encoding (Handler follows the same rule,
// except that a slice of anything but bytes is JSON there, since its
// channels carry T itself). JSON(nil) panics.
func JSON(bindStruct interface{}, options ...*Options) macaron.Handler {
	if bindStruct == nil {
		panic("sockets: JSON(nil): pass a value of the type to bind, such as JSON(Message{})")
	}
	o := withDefaults(options)
	t := reflect.TypeOf(bindStruct)
	switch kind.Of(t) {
	case kind.Text:
		return newMiddleware(o, stringKind(o))
	case kind.Binary:
		return newMiddleware(o, bytesKind(o))
	}
	if t.Kind() == reflect.Slice {
		// The original's quirk, kept because handlers are typed against
		// it: any slice binds byte slices.
		return newMiddleware(o, bytesKind(o))
	}
	return newMiddleware(o, jsonKind(o, t))
}

// binder makes the channels of one connection, maps them into the handler's
// injector and returns the box that moves their values.
type binder func(c *Connection, ctx *macaron.Context, bufs *sync.Pool) box

func stringKind(o *Options) binder {
	return func(c *Connection, ctx *macaron.Context, bufs *sync.Pool) box {
		mc := &MessageConnection{Connection: c,
			Sender: make(chan string, o.SendChannelBuffer), Receiver: make(chan string, o.RecvChannelBuffer)}
		ctx.Map((<-chan string)(mc.Receiver))
		ctx.Map((chan<- string)(mc.Sender))
		return newChanBox(mc.Sender, mc.Receiver, bufs, o.JSONCodec, &c.prepared)
	}
}

func bytesKind(o *Options) binder {
	return func(c *Connection, ctx *macaron.Context, bufs *sync.Pool) box {
		bc := &ByteSliceConnection{Connection: c,
			Sender: make(chan []byte, o.SendChannelBuffer), Receiver: make(chan []byte, o.RecvChannelBuffer)}
		ctx.Map((<-chan []byte)(bc.Receiver))
		ctx.Map((chan<- []byte)(bc.Sender))
		return newChanBox(bc.Sender, bc.Receiver, bufs, o.JSONCodec, &c.prepared)
	}
}

func jsonKind(o *Options, t reflect.Type) binder {
	ptr := reflect.PointerTo(t)
	both := reflect.ChanOf(reflect.BothDir, ptr)
	recvType := reflect.ChanOf(reflect.RecvDir, ptr)
	sendType := reflect.ChanOf(reflect.SendDir, ptr)
	return func(c *Connection, ctx *macaron.Context, bufs *sync.Pool) box {
		jc := &JSONConnection{Connection: c,
			Sender: reflect.MakeChan(both, o.SendChannelBuffer), Receiver: reflect.MakeChan(both, o.RecvChannelBuffer)}
		ctx.Set(recvType, jc.Receiver.Convert(recvType))
		ctx.Set(sendType, jc.Sender.Convert(sendType))
		return &jsonBox{elem: t, send: jc.Sender, recv: jc.Receiver, codec: o.JSONCodec, bufs: bufs, prep: &c.prepared}
	}
}

// middleware is the Macaron front: a thin layer over the net/http front's
// endpoint that injects the channels instead of handing them over. One
// serves every connection made with the same options.
type middleware struct {
	*endpoint
	bind binder
}

func newMiddleware(o *Options, b binder) macaron.Handler {
	m := &middleware{endpoint: newEndpoint(o), bind: b}
	return m.serve
}

// serve upgrades the request (or answers it with the failed check's
// status), injects the channels, runs the rest of the handler chain and
// returns once the connection has ended.
func (m *middleware) serve(c *macaron.Context) {
	p := m.upgrade(c.Resp, c.Req.Request)
	if p == nil {
		return
	}
	p.box = m.bind(p.Connection, c, &m.bufs)
	c.Map(p.Connection)
	c.Map((<-chan error)(p.Error))
	c.Map((chan<- int)(p.Disconnect))
	c.Map((<-chan bool)(p.Done))
	// Whatever the chain writes from now on is discarded instead of
	// reaching the hijacked connection.
	hw := &hijackedWriter{}
	c.Resp = hw
	c.MapTo(hw, (*http.ResponseWriter)(nil))
	m.run(p, c.Req.Request, c.Next)
}
