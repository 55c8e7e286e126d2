package wschan

import (
	"reflect"
	"time"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/internal/park"
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

	// appendCases appends what a parked write loop waits on, in the order
	// caseSend, caseDisconnect: its wait, done by a parker.
	appendCases(dst []reflect.SelectCase, ev *events) []reflect.SelectCase
	// woke stages what the chosen case of appendCases yielded and returns
	// the event wait would have.
	woke(chosen int, v reflect.Value, ok bool, ev *events) event
}

// wokeOn maps what woke a parked write loop (a case of a box's
// appendCases, or the parker's Timeout or Stopped) to its event; stage
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
	case park.Timeout:
		return evTimer
	default: // park.Stopped
		return evStop
	}
}

// appendCases appends the select cases of a parked write loop waiting on
// send and ev: the sender and the disconnect channel. Its timer is its
// parker's (pump.Due), and finish stops it rather than a case on the
// context. They are built afresh each time (nothing allocates), so a
// parked connection keeps no copy of them.
func appendCases(dst []reflect.SelectCase, send reflect.Value, ev *events) []reflect.SelectCase {
	return append(dst, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: send},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ev.disconnect)})
}

// Indexes into a box's select cases, in the order appendCases appends them.
const (
	caseSend = iota
	caseDisconnect
	parkedCases // how many
)
