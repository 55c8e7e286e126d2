package wschan

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/internal/kind"
)

// textCodec carries a T of string kind: any message arrives as a new
// string; a string goes out as one text frame.
type textCodec[T any] struct{}

func (textCodec[T]) fromWire(p []byte) (T, error) { return kind.Decode[T](kind.Text, p, nil) }

// toWire views the string's bytes without copying. The transport only reads
// a server's outgoing payload (it masks client frames alone), so the string
// is never written through this view.
func (textCodec[T]) toWire(v T) (websocket.MessageType, []byte, error) {
	s := kind.String(v)
	return websocket.MessageText, unsafe.Slice(unsafe.StringData(s), len(s)), nil
}

func (textCodec[T]) release() {}

// bytesCodec carries a slice of bytes: any message arrives as a new,
// non-nil slice; a slice goes out as one binary frame, as it is.
type bytesCodec[T any] struct{}

func (bytesCodec[T]) fromWire(p []byte) (T, error) { return kind.Decode[T](kind.Binary, p, nil) }

func (bytesCodec[T]) toWire(v T) (websocket.MessageType, []byte, error) {
	return websocket.MessageBinary, kind.Bytes(v), nil
}

func (bytesCodec[T]) release() {}

// jsonCodec: a message is decoded into a new T, as JSON(T{}) decodes into a
// new *T (for a pointer type T, "null" gives a pointer to the zero value);
// a value goes out as one text frame of encoding/json Encoder output,
// trailing newline included, encoded before any frame is opened.
type jsonCodec[T any] struct {
	elem  reflect.Type // T's element type when T is a pointer
	codec JSONCodec
	bufs  *sync.Pool
	buf   *[]byte
	prep  *preparedFrames
}

func newJSONCodec[T any](bufs *sync.Pool, codec JSONCodec, prep *preparedFrames) *jsonCodec[T] {
	c := &jsonCodec[T]{bufs: bufs, codec: codec, prep: prep}
	if t := reflect.TypeFor[T](); t.Kind() == reflect.Pointer {
		c.elem = t.Elem()
	}
	return c
}

func (c *jsonCodec[T]) fromWire(p []byte) (T, error) {
	// As the original's Decoder: the first value of the message is taken
	// and anything after it is ignored.
	v, err := kind.Decode[T](kind.JSON, p, c.codec.Decode)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("decode JSON into %v: %w", c.named(), err)
	}
	return v, nil
}

// named is the type errors name: the element type for a pointer T, as
// JSON(T{}) names it.
func (c *jsonCodec[T]) named() reflect.Type {
	if c.elem != nil {
		return c.elem
	}
	return reflect.TypeFor[T]()
}

func (c *jsonCodec[T]) toWire(v T) (websocket.MessageType, []byte, error) {
	frame, err := jsonFrame(c.prep, c.codec, c.bufs, &c.buf, any(v), c.elem != nil)
	return websocket.MessageText, frame, err
}

func (c *jsonCodec[T]) release() { releaseBuf(c.bufs, &c.buf) }

// jsonFrame is the one way a JSON value goes out, on either front: the
// frame prepared for v (Connection.Prepare), when v is a pointer and one
// was, else v's encoding by codec as v is now, written into a buffer from
// bufs that *buf holds until releaseBuf. An error names v's type.
func jsonFrame(prep *preparedFrames, codec JSONCodec, bufs *sync.Pool, buf **[]byte, v any, pointer bool) ([]byte, error) {
	var (
		frame    []byte
		err      error
		prepared bool
	)
	if pointer {
		frame, err, prepared = prep.take(v)
	}
	if !prepared {
		*buf = bufs.Get().(*[]byte)
		**buf, err = codec.AppendEncode((**buf)[:0], v)
		frame = **buf
	}
	if err != nil {
		return nil, fmt.Errorf("encode %T as JSON: %w", v, err)
	}
	return frame, nil
}

// releaseBuf puts *buf back in the pool, if any.
func releaseBuf(bufs *sync.Pool, buf **[]byte) {
	if *buf != nil {
		**buf = (**buf)[:0]
		bufs.Put(*buf)
		*buf = nil
	}
}
