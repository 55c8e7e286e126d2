package wschan

import (
	"fmt"
	"reflect"

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
	// A running loop also waits on its timer and the context.
	var cases [parkedCases + 2]reflect.SelectCase
	chosen, v, ok := reflect.Select(append(b.appendCases(cases[:0], ev),
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ev.timer)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ev.stop)}))
	switch chosen {
	case parkedCases:
		return evTimer
	case parkedCases + 1:
		return evStop
	}
	return b.woke(chosen, v, ok, ev)
}

func (b *jsonBox) appendCases(dst []reflect.SelectCase, ev *events) []reflect.SelectCase {
	return appendCases(dst, b.send, ev)
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
