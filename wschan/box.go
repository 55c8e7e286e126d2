package wschan

import (
	"time"

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

// waitSend waits for a value on send (evValue, or evSenderClosed once it is
// closed) or one of ev's events: a box's wait, for the sender of either box
// (chanBox's chan T, jsonBox's channel of pointers).
func waitSend[T any](send <-chan T, ev *events) (T, event) {
	select {
	case v, ok := <-send:
		if !ok {
			return v, evSenderClosed
		}
		return v, evValue
	case ev.code = <-ev.disconnect:
		return *new(T), evDisconnect
	case <-ev.timer:
		return *new(T), evTimer
	case <-ev.stop:
		return *new(T), evStop
	}
}

// pollSend returns a value already queued on send, without blocking; false
// when none is, or send is closed.
func pollSend[T any](send <-chan T) (T, bool) {
	select {
	case v, ok := <-send:
		return v, ok
	default:
		return *new(T), false
	}
}

// box moves values between the handler's channels and the wire, for one
// connection. The read loop alone calls decode, offer and deliver; the write
// loop alone calls wait, poll, encode and sent. A box is also a sendBox of
// its sender's type, for the write parker (writeWaiter).
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
}
