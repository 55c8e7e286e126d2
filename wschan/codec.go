package wschan

import (
	"fmt"
	"reflect"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/internal/kind"
)

// event is what woke the write loop.
type event int

const (
	evValue        event = iota // the sender yielded a value, now staged
	evSenderClosed              // the handler closed its sender
	evDisconnect                // the handler sent a close code
	evTimer                     // time to ping, or to check the peer's silence
	evStop                      // the connection is ending
)

// events holds the channels the write loop waits on besides the sender.
type events struct {
	disconnect <-chan int
	timer      <-chan time.Time
	stop       <-chan struct{}

	code int // the close code, after evDisconnect
}

// box moves values between the handler's channels and the wire, for one
// connection. The read loop alone calls decode, offer and deliver; the write
// loop alone calls wait, poll, encode and sent.
type box interface {
	// decode turns one message from the peer into the value to deliver.
	decode(p []byte) error
	// offer hands the decoded value to the receiver if it has room.
	offer() bool
	// deliver waits until the receiver takes the decoded value, or stop
	// closes first (it then returns false and the value is dropped).
	deliver(stop <-chan struct{}) bool

	// wait blocks until the sender yields a value or an event fires.
	wait(ev *events) event
	// poll stages a value already queued on the sender, without blocking.
	poll() bool
	// encode returns the frame for the staged value.
	encode() (websocket.MessageType, []byte, error)
	// sent releases what encode used, once the frame is written.
	sent()

	// lens returns how many values wait in the receiver and the sender.
	lens() (receiving, sending int)

	// appendCases appends what wait waits on, in the order caseSend,
	// caseDisconnect, caseTimer and caseStop: a parked write loop's wait,
	// done by a parker.
	appendCases(dst []reflect.SelectCase, ev *events) []reflect.SelectCase
	// woke stages what the chosen case of appendCases yielded and returns
	// the event wait would have.
	woke(chosen int, v reflect.Value, ok bool, ev *events) event
}

// wokeOn maps the chosen case of a box's appendCases to its event; stage
// keeps a value received from the sender.
func wokeOn(chosen int, v reflect.Value, ok bool, ev *events, stage func(reflect.Value)) event {
	switch chosen {
	case caseSend:
		if !ok {
			return evSenderClosed
		}
		stage(v)
		return evValue
	case caseDisconnect:
		ev.code = int(v.Int())
		return evDisconnect
	case caseTimer:
		return evTimer
	default:
		return evStop
	}
}

// buildCases fills cases with the select cases of a write loop waiting on
// send and ev.
func buildCases(cases *[4]reflect.SelectCase, send reflect.Value, ev *events) {
	*cases = [4]reflect.SelectCase{
		caseSend:       {Dir: reflect.SelectRecv, Chan: send},
		caseDisconnect: {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ev.disconnect)},
		caseTimer:      {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ev.timer)},
		caseStop:       {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ev.stop)},
	}
}

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

// textCodec carries a T of string kind: any message arrives as a new
// string; a string goes out as one text frame.
type textCodec[T any] struct{}

func (textCodec[T]) fromWire(p []byte) (T, error) { return kind.FromString[T](string(p)), nil }

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

func (bytesCodec[T]) fromWire(p []byte) (T, error) {
	return kind.FromBytes[T](append(make([]byte, 0, len(p)), p...)), nil
}

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
	var v T
	target := any(&v)
	if c.elem != nil {
		v = reflect.New(c.elem).Interface().(T)
		target = v
	}
	// As the original's Decoder: the first value of the message is taken
	// and anything after it is ignored.
	if err := c.codec.Decode(p, target); err != nil {
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

// toValidUTF8 returns a copy of p in which each byte that does not start a
// valid UTF-8 sequence is replaced by U+FFFD, as a for-range loop over a Go
// string decodes it.
func toValidUTF8(p []byte) []byte {
	out := make([]byte, 0, len(p)+len(p)/2)
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, p[:n]...)
		}
		p = p[n:]
	}
	return out
}

// jsonBox carries JSON values of a type known only at run time, through
// channels of *T made by reflection.
type jsonBox struct {
	elem       reflect.Type  // T
	send, recv reflect.Value // chan *T
	in, out    reflect.Value // *T
	codec      JSONCodec
	bufs       *sync.Pool
	buf        *[]byte
	prep       *preparedFrames

	cases    [4]reflect.SelectCase
	casesFor *events
}

// Indexes into jsonBox.cases, in the order wait builds them.
const (
	caseSend = iota
	caseDisconnect
	caseTimer
	caseStop
)

func (b *jsonBox) decode(p []byte) error {
	v := reflect.New(b.elem)
	// As the original's Decoder: the first value of the message is taken
	// and anything after it is ignored.
	if err := b.codec.Decode(p, v.Interface()); err != nil {
		return fmt.Errorf("decode JSON into %v: %w", b.elem, err)
	}
	b.in = v
	return nil
}

func (b *jsonBox) offer() bool {
	if b.recv.TrySend(b.in) {
		b.in = reflect.Value{}
		return true
	}
	return false
}

func (b *jsonBox) deliver(stop <-chan struct{}) bool {
	cases := [2]reflect.SelectCase{
		{Dir: reflect.SelectSend, Chan: b.recv, Send: b.in},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(stop)},
	}
	chosen, _, _ := reflect.Select(cases[:])
	b.in = reflect.Value{}
	return chosen == 0
}

func (b *jsonBox) wait(ev *events) event {
	chosen, v, ok := reflect.Select(b.selectCases(ev))
	return b.woke(chosen, v, ok, ev)
}

func (b *jsonBox) selectCases(ev *events) []reflect.SelectCase {
	if b.casesFor != ev {
		buildCases(&b.cases, b.send, ev)
		b.casesFor = ev
	}
	return b.cases[:]
}

func (b *jsonBox) appendCases(dst []reflect.SelectCase, ev *events) []reflect.SelectCase {
	return append(dst, b.selectCases(ev)...)
}

func (b *jsonBox) woke(chosen int, v reflect.Value, ok bool, ev *events) event {
	return wokeOn(chosen, v, ok, ev, func(v reflect.Value) { b.out = v })
}

func (b *jsonBox) poll() bool {
	v, ok := b.send.TryRecv()
	if !ok || !v.IsValid() {
		return false
	}
	b.out = v
	return true
}

// encode marshals the staged value before any frame is opened, so a value
// that cannot be encoded sends nothing.
func (b *jsonBox) encode() (websocket.MessageType, []byte, error) {
	frame, err := jsonFrame(b.prep, b.codec, b.bufs, &b.buf, b.out.Interface(), true)
	if err != nil {
		b.sent()
		return 0, nil, err
	}
	return websocket.MessageText, frame, nil
}

func (b *jsonBox) lens() (int, int) { return b.recv.Len(), b.send.Len() }

func (b *jsonBox) sent() {
	b.out = reflect.Value{}
	releaseBuf(b.bufs, &b.buf)
}
