package wschan

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/coder/websocket"
)

// jsonBox carries JSON values of a type known only at run time, through
// channels of *T made by reflection.
type jsonBox struct {
	elem       reflect.Type  // T
	send, recv reflect.Value // chan *T
	in, out    reflect.Value // *T
	jsonOut
}

func (b *jsonBox) decode(p []byte) error {
	v := reflect.New(b.elem) // as chanBox decodes a JSON value
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
	v, e := waitSend(b.sendChan(), ev)
	if e == evValue {
		b.stage(v)
	}
	return e
}

// sendChan returns the sender, a chan *T made by reflection, as the chan of
// unsafe.Pointer it is in memory (a channel is a pointer to the runtime's
// record, which copies each value by its own element type, *T): the write
// loop and its parker wait on it with a select statement, as on chanBox's.
func (b *jsonBox) sendChan() <-chan unsafe.Pointer {
	ch := b.send.UnsafePointer()
	return *(*<-chan unsafe.Pointer)(unsafe.Pointer(&ch))
}

// stage stages the *T the parker received as an unsafe.Pointer.
func (b *jsonBox) stage(v unsafe.Pointer) { b.out = reflect.NewAt(b.elem, v) }

func (b *jsonBox) poll() bool {
	v, ok := pollSend(b.sendChan())
	if ok {
		b.stage(v)
	}
	return ok
}

// encode marshals the staged value before any frame is opened, so a value
// that cannot be encoded sends nothing.
func (b *jsonBox) encode() (websocket.MessageType, []byte, error) {
	frame, err := b.frame(b.out.Interface(), true)
	if err != nil {
		b.sent()
		return 0, nil, err
	}
	return websocket.MessageText, frame, nil
}

func (b *jsonBox) lens() (int, int) { return b.recv.Len(), b.send.Len() }

func (b *jsonBox) sent() {
	b.out = reflect.Value{}
	b.release()
}
