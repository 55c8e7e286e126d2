package sockets

import (
	"reflect"

	"gopkg.in/macaron.v1"

	"github.com/go-macaron/sockets/internal/kind"
)

// Messages returns a handler that upgrades the request to a WebSocket and
// injects into the next handler:
//
//	<-chan string  receiver: every message from the peer, text or binary
//	chan<- string  sender: each string goes out as one text frame
//	<-chan error   the cause of an abnormal end, before done fires
//	chan<- int     disconnect: a close code ends the connection
//	<-chan bool    done: true once the connection has ended, then closed
//
// Only the first Options argument is used. Requests that are not GET get 405,
// a disallowed Origin 403 and an invalid handshake 400; the next handler is
// then not called.
func Messages(options ...*Options) macaron.Handler {
	return newMiddleware(options, kind.Text, nil)
}

// ByteSliceMessages is Messages for byte slices: it injects <-chan []byte
// (every message from the peer, text or binary, as a new slice) and
// chan<- []byte (each slice goes out as one binary frame), with the same
// error, disconnect and done channels.
func ByteSliceMessages(options ...*Options) macaron.Handler {
	return newMiddleware(options, kind.Binary, nil)
}

// JSON is Messages for JSON values of bindStruct's type T: it injects
// <-chan *T (each message decoded into a new *T) and chan<- *T (each value
// one text frame of encoding/json Encoder output, trailing newline
// included, encoded when the connection takes it, as it is then), with the
// same error, disconnect and done channels. A message that does not decode
// ends the connection with 1007; a value that cannot be encoded, with 1011
// and nothing sent.
//
// As in the original, a T of string kind behaves exactly as Messages, and
// of slice kind exactly as ByteSliceMessages (wschan.Handler differs only
// there: a slice of anything but bytes is JSON). JSON(nil) panics.
func JSON(bindStruct interface{}, options ...*Options) macaron.Handler {
	if bindStruct == nil {
		panic("sockets: JSON(nil): pass a value of the type to bind, such as JSON(Message{})")
	}
	t := reflect.TypeOf(bindStruct)
	switch kind.Of(t) {
	case kind.Text:
		return newMiddleware(options, kind.Text, nil)
	case kind.Binary:
		return newMiddleware(options, kind.Binary, nil)
	}
	if t.Kind() == reflect.Slice {
		// The original's quirk, kept because handlers are typed against
		// it: any slice binds byte slices.
		return newMiddleware(options, kind.Binary, nil)
	}
	return newMiddleware(options, kind.JSON, t)
}
