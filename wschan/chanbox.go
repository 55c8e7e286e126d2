package wschan

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/internal/kind"
)

// chanBox carries values whose channels Go can type statically: strings
// and byte slices for both fronts, any JSON type T for Handler. T's kind
// (internal/kind) decides the frames: text, binary, or a text frame of
// JSON encoded before any frame is opened.
type chanBox[T any] struct {
	send, recv chan T
	in, out    T
	kind       kind.Kind
	json       *jsonOut // for a JSON T
}

// newChanBox returns the box for channels of T; a JSON T's values are
// encoded by codec into buffers from bufs, or prepared in prep.
func newChanBox[T any](send, recv chan T, bufs *sync.Pool, codec JSONCodec, prep *preparedFrames) *chanBox[T] {
	b := &chanBox[T]{send: send, recv: recv, kind: kind.For[T]()}
	if b.kind == kind.JSON {
		b.json = &jsonOut{codec: codec, bufs: bufs, prep: prep}
	}
	return b
}

// decode makes the value of one message, whatever the frame's type (see
// kind.Decode); JSON takes the message's first value and ignores the rest,
// as the original's Decoder did.
func (b *chanBox[T]) decode(p []byte) (err error) {
	if b.kind != kind.JSON {
		b.in, _ = kind.Decode[T](b.kind, p, nil)
		return nil
	}
	if b.in, err = kind.Decode[T](kind.JSON, p, b.json.codec.Decode); err != nil {
		return fmt.Errorf("decode JSON into %v: %w", jsonTarget(reflect.TypeFor[T]()), err)
	}
	return nil
}

// jsonTarget is the type decode errors name: a pointer's element type, as
// JSON(T{}) names it.
func jsonTarget(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

// encode returns the staged value's frame. A string's bytes are viewed
// without copying: the transport never writes to a server's payload (it
// masks only client frames).
func (b *chanBox[T]) encode() (websocket.MessageType, []byte, error) {
	switch b.kind {
	case kind.Text:
		s := kind.String(b.out)
		return websocket.MessageText, unsafe.Slice(unsafe.StringData(s), len(s)), nil
	case kind.Binary:
		return websocket.MessageBinary, kind.Bytes(b.out), nil
	}
	frame, err := b.json.frame(any(b.out), reflect.TypeFor[T]().Kind() == reflect.Pointer)
	if err != nil {
		b.sent()
		return 0, nil, err
	}
	return websocket.MessageText, frame, nil
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
	v, e := waitSend(b.send, ev)
	if e == evValue {
		b.out = v
	}
	return e
}

func (b *chanBox[T]) poll() bool {
	v, ok := pollSend(b.send)
	if ok {
		b.out = v
	}
	return ok
}

func (b *chanBox[T]) lens() (int, int) { return len(b.recv), len(b.send) }

func (b *chanBox[T]) sendChan() <-chan T { return b.send }

func (b *chanBox[T]) stage(v T) { b.out = v }

func (b *chanBox[T]) sent() {
	var zero T
	b.out = zero
	if b.json != nil {
		b.json.release()
	}
}

// chans makes a connection's sender and receiver of T, with the capacities
// its options give, and sets the pump's box to the one that serves them.
func chans[T any](e *endpoint, p *pump) (send, recv chan T) {
	send, recv = make(chan T, e.opts.SendChannelBuffer), make(chan T, e.opts.RecvChannelBuffer)
	p.box = newChanBox(send, recv, &e.bufs, e.opts.JSONCodec, &p.conn.prepared)
	return send, recv
}
