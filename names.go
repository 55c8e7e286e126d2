package sockets

import (
	"reflect"

	"github.com/go-macaron/sockets/wschan"
)

// Options configures the middleware; see wschan.Options for every field.
// Options left at their zero value take their defaults. It is the same
// type as wschan.Options, so one value configures either front.
type Options = wschan.Options

// Connection is the part every connection kind shares: its options, its
// error, disconnect and done channels, and Close. It is injected into the
// next handler as *Connection; see wschan.Connection.
type Connection = wschan.Connection

// Log levels for Options.LogLevel. A line is written when its level is at
// most Options.LogLevel.
const (
	LogLevelError   = wschan.LogLevelError
	LogLevelWarning = wschan.LogLevelWarning
	LogLevelInfo    = wschan.LogLevelInfo
	LogLevelDebug   = wschan.LogLevelDebug
)

// LogLevelStrings names each log level; the name appears in every log line.
// It shares its elements with wschan.LogLevelStrings.
var LogLevelStrings = wschan.LogLevelStrings

// The original package's README used these names, which its code never
// defined.
//
// Deprecated: use LogLevelError, LogLevelWarning, LogLevelInfo and
// LogLevelDebug.
const (
	LEVEL_ERROR   = LogLevelError   //nolint:revive // compatibility name
	LEVEL_WARNING = LogLevelWarning //nolint:revive // compatibility name
	LEVEL_INFO    = LogLevelInfo    //nolint:revive // compatibility name
	LEVEL_DEBUG   = LogLevelDebug   //nolint:revive // compatibility name
)

// Binding is what every connection kind offers: its close code channel, its
// error channel, and a way to close it. *MessageConnection,
// *ByteSliceConnection and *JSONConnection implement it.
type Binding interface {
	// Close ends the connection with the given close code, as sending the
	// code on the disconnect channel does.
	Close(code int) error
	// DisconnectChannel returns the channel that takes a close code.
	DisconnectChannel() chan int
	// ErrorChannel returns the channel that carries the cause of an
	// abnormal end.
	ErrorChannel() chan error
}

// MessageConnection carries strings: every message the peer sends, text or
// binary, arrives on Receiver; every string put on Sender goes out as one
// text frame, unchanged.
type MessageConnection struct {
	*Connection

	// Sender is injected as chan<- string.
	Sender chan string
	// Receiver is injected as <-chan string. It is never closed.
	Receiver chan string
}

// ByteSliceConnection carries byte slices: every message the peer sends, text
// or binary, arrives on Receiver as a new slice; every slice put on Sender
// goes out as one binary frame.
type ByteSliceConnection struct {
	*Connection

	// Sender is injected as chan<- []byte.
	Sender chan []byte
	// Receiver is injected as <-chan []byte. It is never closed.
	Receiver chan []byte
}

// JSONConnection carries JSON values of the type given to JSON, as pointers:
// each message is decoded into a new *T on Receiver; each *T put on Sender
// goes out as one text frame of encoding/json Encoder output.
type JSONConnection struct {
	*Connection

	// Sender is a chan *T, injected as chan<- *T.
	Sender reflect.Value
	// Receiver is a chan *T, injected as <-chan *T. It is never closed.
	Receiver reflect.Value
}
