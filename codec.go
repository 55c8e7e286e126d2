package sockets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/coder/websocket"
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
}

// chanBox carries values whose channels Go can type statically: strings and
// byte slices.
type chanBox[T any] struct {
	send, recv chan T
	in, out    T
	frame      websocket.MessageType
	fromWire   func([]byte) T
	toWire     func(T) []byte
}

func (b *chanBox[T]) decode(p []byte) error {
	b.in = b.fromWire(p)
	return nil
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
	return b.frame, b.toWire(b.out), nil
}

func (b *chanBox[T]) sent() {
	var zero T
	b.out = zero
}

// stringFromWire copies a message into a new string.
func stringFromWire(p []byte) string { return string(p) }

// stringToWire views a string's bytes without copying. The transport only
// reads a server's outgoing payload (it masks client frames alone), so the
// string is never written through this view.
func stringToWire(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

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

// bytesFromWire copies a message into a new, non-nil slice.
func bytesFromWire(p []byte) []byte { return append(make([]byte, 0, len(p)), p...) }

// bytesToWire sends a slice as it is.
func bytesToWire(p []byte) []byte { return p }

// jsonBox carries JSON values of a type known only at run time, through
// channels of *T made by reflection.
type jsonBox struct {
	elem       reflect.Type  // T
	send, recv reflect.Value // chan *T
	in, out    reflect.Value // *T
	bufs       *sync.Pool
	buf        *[]byte

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
	// A Decoder, not Unmarshal: as the original, the first value of the
	// message is taken and anything after it is ignored.
	if err := json.NewDecoder(bytes.NewReader(p)).Decode(v.Interface()); err != nil {
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
	if b.casesFor != ev {
		b.cases = [4]reflect.SelectCase{
			caseSend:       {Dir: reflect.SelectRecv, Chan: b.send},
			caseDisconnect: {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ev.disconnect)},
			caseTimer:      {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ev.timer)},
			caseStop:       {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ev.stop)},
		}
		b.casesFor = ev
	}
	chosen, v, ok := reflect.Select(b.cases[:])
	switch chosen {
	case caseSend:
		if !ok {
			return evSenderClosed
		}
		b.out = v
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
	b.buf = b.bufs.Get().(*[]byte)
	w := bytes.NewBuffer((*b.buf)[:0])
	err := json.NewEncoder(w).Encode(b.out.Interface())
	*b.buf = w.Bytes()
	if err != nil {
		typ := b.out.Type()
		b.sent()
		return 0, nil, fmt.Errorf("encode %v as JSON: %w", typ, err)
	}
	return websocket.MessageText, *b.buf, nil
}

func (b *jsonBox) sent() {
	b.out = reflect.Value{}
	if b.buf != nil {
		*b.buf = (*b.buf)[:0]
		b.bufs.Put(b.buf)
		b.buf = nil
	}
}
