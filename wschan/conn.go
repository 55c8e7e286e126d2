package wschan

import (
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// ErrConnectionClosed is returned by Connection.Close and CloseWithReason
// once the connection has ended or is ending, or when a close was already
// requested (by either method, or by a code on the disconnect channel).
var ErrConnectionClosed = errors.New("sockets: connection already closed or closing")

// Connection is the part of a WebSocket connection shared by every kind. The
// handler sees its channels through the types injected into it: Error as
// <-chan error, Disconnect as chan<- int and Done as <-chan bool.
type Connection struct {
	*Options

	// Error carries the cause of an abnormal end (a read, decode, size,
	// write or timeout failure, a dropped TCP connection, a peer close
	// with a code other than 1000 or 1001), sent before Done fires. A
	// normal close carries no value. Capacity 1. It is closed once Done's
	// value has been taken or the handler has returned, or DoneGrace after
	// Done fired (see Conn.Error).
	Error chan error

	// Disconnect takes a close code from the handler: every value queued
	// on the sender goes out, then a close frame with that code (1006
	// drops the connection without one; a code that cannot be sent becomes
	// 1011). Capacity 1.
	Disconnect chan int

	// Done receives true once, when the connection has ended (the socket is
	// closed and the connection's goroutines are done with it), and is
	// closed once that value has been taken (or the handler has returned,
	// or DoneGrace has passed). Capacity 3.
	Done chan bool

	subprotocol string
	compressed  bool
	request     *http.Request
	ended       chan struct{}                // closed once the end is decided
	record      atomic.Pointer[CloseRecord]  // set before Done fires
	closeReq    atomic.Pointer[closeRequest] // the first close asked for; set once
	stats       counters
	prepared    preparedFrames // frames encoded ahead for values on the sender
}

// RemoteAddr returns the peer's address, as the request gave it.
func (c *Connection) RemoteAddr() string {
	if c.request == nil {
		return ""
	}
	return c.request.RemoteAddr
}

// Ended returns a channel closed once the connection's end is decided,
// before Done fires, for code that watches a connection beside its handler
// (a hub) without taking Done's one value, which the handler's loop waits
// for. It is nil for a Connection no endpoint made.
func (c *Connection) Ended() <-chan struct{} { return c.ended }

// Subprotocol returns the subprotocol negotiated in the handshake (see
// Options.Subprotocols), or "" for none.
func (c *Connection) Subprotocol() string { return c.subprotocol }

// Compressed reports whether permessage-deflate was negotiated (see
// Options.Compression).
func (c *Connection) Compressed() bool { return c.compressed }

// Request returns the request the connection was upgraded from.
func (c *Connection) Request() *http.Request { return c.request }

// CloseRecord tells how the connection ended: who ended it, the close code
// and reason, and the cause the error channel carried. ok is false until
// the connection has ended (it is set before Done fires).
func (c *Connection) CloseRecord() (r CloseRecord, ok bool) {
	if p := c.record.Load(); p != nil {
		return *p, true
	}
	return CloseRecord{}, false
}

// Close ends the connection with code, as sending code on Disconnect does,
// without waiting; Done fires when it is complete.
//
// The first close asked for wins, code and reason together: Close,
// CloseWithReason, or a code on the disconnect channel (from when the
// connection takes it, at once unless it is busy writing). Close returns
// nil when its request is that first one, and ErrConnectionClosed when
// another came first or the connection has ended. The connection may still
// end otherwise meanwhile (the peer's close, a failure): see CloseRecord.
func (c *Connection) Close(code int) error { return c.requestClose(code, "") }

// CloseWithReason is Close with a reason in the close frame. The code is
// checked as on Disconnect (one that cannot be sent becomes 1011); each
// invalid UTF-8 byte of reason is replaced by U+FFFD, and a reason over 123
// bytes is cut on a rune boundary.
func (c *Connection) CloseWithReason(code int, reason string) error {
	return c.requestClose(code, truncateReason(string([]rune(reason))))
}

// closeRequest is a close asked for by the handler.
type closeRequest struct {
	code   int
	reason string
}

// requestClose makes code and reason the connection's close unless another
// close was asked for first, and wakes the write loop to carry it out.
func (c *Connection) requestClose(code int, reason string) error {
	select {
	case <-c.ended:
		return ErrConnectionClosed
	default:
	}
	if len(c.Disconnect) > 0 {
		return ErrConnectionClosed // a code the handler sent waits: it came first
	}
	if !c.closeReq.CompareAndSwap(nil, &closeRequest{code, reason}) {
		return ErrConnectionClosed
	}
	select {
	case c.Disconnect <- code:
	default:
		// A code the handler sent since fills the channel; the write loop
		// takes it, and finds this request first (decidedClose).
	}
	return nil
}

// decidedClose returns the close to make once the write loop has taken
// code from the disconnect channel: the first request, which is code's own
// unless a method asked first.
func (c *Connection) decidedClose(code int) *closeRequest {
	r := &closeRequest{code: code}
	if c.closeReq.CompareAndSwap(nil, r) {
		return r
	}
	return c.closeReq.Load()
}

// DisconnectChannel returns the channel that takes a close code.
func (c *Connection) DisconnectChannel() chan int { return c.Disconnect }

// ErrorChannel returns the channel that carries the cause of an abnormal end.
func (c *Connection) ErrorChannel() chan error { return c.Error }

func newConnection(o *Options, r *http.Request) *Connection {
	return &Connection{
		Options:    o,
		Error:      make(chan error, 1),
		Disconnect: make(chan int, 1),
		Done:       make(chan bool, 3),
		request:    r,
		stats:      counters{born: time.Now()},
	}
}
