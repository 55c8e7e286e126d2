package wschan

import (
	"reflect"
	"sync"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/internal/kind"
)

// chanBox carries values whose channels Go can type statically: strings
// and byte slices for both fronts, and any JSON type T for the net/http
// front. Its codec turns values into frames and back.
type chanBox[T any] struct {
	send, recv chan T
	in, out    T
	codec      wireCodec[T]
}

// wireCodec turns the values of one kind into frames and back.
type wireCodec[T any] interface {
	// fromWire makes the value of one message from the peer.
	fromWire(p []byte) (T, error)
	// toWire returns the frame for v; an error means no frame at all.
	toWire(v T) (websocket.MessageType, []byte, error)
	// release frees what toWire used, once the frame is written.
	release()
}

// newChanBox returns the box for channels of T, whose kind decides its
// frames (internal/kind): a string kind is text, a slice of bytes binary,
// anything else JSON of T. prep holds the frames prepared for its values.
func newChanBox[T any](send, recv chan T, bufs *sync.Pool, codec JSONCodec, prep *preparedFrames) *chanBox[T] {
	var c wireCodec[T]
	switch kind.For[T]() {
	case kind.Text:
		c = textCodec[T]{}
	case kind.Binary:
		c = bytesCodec[T]{}
	default:
		c = newJSONCodec[T](bufs, codec, prep)
	}
	return &chanBox[T]{send: send, recv: recv, codec: c}
}

func (b *chanBox[T]) decode(p []byte) (err error) {
	b.in, err = b.codec.fromWire(p)
	return err
}

func (b *chanBox[T]) offer() bool {
	select {
	case b.recv <- b.in:
		return true
	default:
		return false
	}
}

func (b *chanBox[T]) deliver(stop <-chan struct{}) bool {
	select {
	case b.recv <- b.in:
		return true
	case <-stop:
		var zero T
		b.in = zero
		return false
	}
}

func (b *chanBox[T]) wait(ev *events) event {
	select {
	case v, ok := <-b.send:
		if !ok {
			return evSenderClosed
		}
		b.out = v
		return evValue
	case ev.code = <-ev.disconnect:
		return evDisconnect
	case <-ev.timer:
		return evTimer
	case <-ev.stop:
		return evStop
	}
}

func (b *chanBox[T]) poll() bool {
	select {
	case v, ok := <-b.send:
		if ok {
			b.out = v
		}
		return ok
	default:
		return false
	}
}

func (b *chanBox[T]) encode() (websocket.MessageType, []byte, error) {
	typ, p, err := b.codec.toWire(b.out)
	if err != nil {
		b.sent()
	}
	return typ, p, err
}

func (b *chanBox[T]) lens() (int, int) { return len(b.recv), len(b.send) }

// appendCases builds the cases afresh (nothing allocates): a parked
// connection keeps no copy of them.
func (b *chanBox[T]) appendCases(dst []reflect.SelectCase, ev *events) []reflect.SelectCase {
	var cases [4]reflect.SelectCase
	buildCases(&cases, reflect.ValueOf(b.send), ev)
	return append(dst, cases[:]...)
}

func (b *chanBox[T]) woke(chosen int, v reflect.Value, ok bool, ev *events) event {
	return wokeOn(chosen, v, ok, ev, func(v reflect.Value) { b.out = v.Interface().(T) })
}

func (b *chanBox[T]) sent() {
	var zero T
	b.out = zero
	b.codec.release()
}

// chans makes a connection's sender and receiver of T, with the capacities
// its options give, and sets the pump's box to the one that serves them.
func chans[T any](e *endpoint, p *pump) (send, recv chan T) {
	send, recv = make(chan T, e.opts.SendChannelBuffer), make(chan T, e.opts.RecvChannelBuffer)
	p.box = newChanBox(send, recv, &e.bufs, e.opts.JSONCodec, &p.prepared)
	return send, recv
}
