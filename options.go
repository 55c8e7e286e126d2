package sockets

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"
)

// Log levels for Options.LogLevel. A line is written when its level is at most
// the configured one.
const (
	LogLevelError = iota
	LogLevelWarning
	LogLevelInfo
	LogLevelDebug
)

// LogLevelStrings names each log level; the name appears in every log line.
var LogLevelStrings = []string{"Error", "Warning", "Info", "Debug"}

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

// Defaults, used for every Options field left at its zero value.
const (
	defaultLogLevel          = LogLevelInfo
	defaultWriteWait         = 60 * time.Second
	defaultPongWait          = 60 * time.Second
	defaultPingPeriod        = 48 * time.Second
	defaultMaxMessageSize    = 65536
	defaultSendChannelBuffer = 10
	defaultRecvChannelBuffer = 10
	defaultAllowedOrigin     = "https?://{{host}}$"
	defaultLogPrefix         = "[sockets] "

	// maxCloseWait bounds the close handshake: how long the middleware waits
	// for the peer's close frame after sending its own.
	maxCloseWait = 5 * time.Second
)

// Options configures a connection. Every field left at its zero value takes
// its default, so a zero value cannot be set explicitly: LogLevel 0 means Info,
// WriteWait 0 means 60 s, and a buffer size of 0 means 10.
type Options struct {
	// Logger receives the log lines. Default: standard output with the
	// prefix "[sockets] " and no timestamp.
	Logger *log.Logger

	// LogLevel is the most detailed level written (LogLevelError ...
	// LogLevelDebug). Default: LogLevelInfo. A negative value silences the
	// logger, as SkipLogging does.
	LogLevel int

	// SkipLogging turns logging off.
	SkipLogging bool

	// WriteWait bounds each write to the socket (messages, pings and close
	// frames). A write that has not completed within it fails, and the
	// connection ends with the cause on the error channel. Default: 60 s.
	// It also bounds the close handshake, to at most 5 s.
	WriteWait time.Duration

	// PongWait is how long the peer may stay silent: when no message and no
	// pong has been read for this long, the peer is taken for dead and the
	// connection is dropped. Time during which the handler holds back
	// delivery (its receiver is full) does not count as silence.
	// Default: 60 s.
	PongWait time.Duration

	// PingPeriod is the interval between pings. It must be shorter than
	// PongWait, or a peer that sends nothing is dropped before the first
	// ping. Default: 48 s.
	PingPeriod time.Duration

	// MaxMessageSize is the largest message accepted from the peer, in
	// bytes; a larger one ends the connection with close code 1009. It does
	// not limit what the handler sends. Default: 65536.
	MaxMessageSize int64

	// SendChannelBuffer is the capacity of the sender channel. Default: 10.
	// Negative values panic when the handler is built.
	SendChannelBuffer int

	// RecvChannelBuffer is the capacity of the receiver channel. Default: 10.
	// Negative values panic when the handler is built.
	RecvChannelBuffer int

	// AllowedOrigin is a regular expression the request's Origin header
	// must match. Every {{word}} in it (conventionally {{host}}) is replaced
	// by the request's Host header, regexp-quoted, and the whole pattern is
	// anchored at both ends. A request without an Origin header is rejected
	// unless the pattern matches the empty string (".*" does).
	// Default: "https?://{{host}}$", the request's own host over http or
	// https. An invalid pattern panics when the handler is built.
	AllowedOrigin string

	// Context, when set, bounds every connection made with these options:
	// cancelling it closes each of them with 1001 (going away), as when a
	// server shuts down. Default: none; connections live until they end on
	// their own. This field is an addition; the original had none.
	Context context.Context
}

// withDefaults returns a copy of the first Options given, or of the zero
// Options, with every zero field set to its default. Later arguments are
// ignored, as in the original. It panics on a nil *Options and on negative
// buffer sizes, which could only fail later, after the upgrade.
func withDefaults(options []*Options) *Options {
	var o Options
	if len(options) > 0 {
		if options[0] == nil {
			panic("sockets: nil *Options: pass no options, or a non-nil *Options")
		}
		o = *options[0]
	}
	if o.SendChannelBuffer < 0 || o.RecvChannelBuffer < 0 {
		panic(fmt.Sprintf("sockets: negative channel buffer (SendChannelBuffer %d, RecvChannelBuffer %d)",
			o.SendChannelBuffer, o.RecvChannelBuffer))
	}
	if o.Logger == nil {
		o.Logger = log.New(os.Stdout, defaultLogPrefix, 0)
	}
	if o.LogLevel == 0 {
		o.LogLevel = defaultLogLevel
	}
	if o.WriteWait == 0 {
		o.WriteWait = defaultWriteWait
	}
	if o.PongWait == 0 {
		o.PongWait = defaultPongWait
	}
	if o.PingPeriod == 0 {
		o.PingPeriod = defaultPingPeriod
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = defaultMaxMessageSize
	}
	if o.SendChannelBuffer == 0 {
		o.SendChannelBuffer = defaultSendChannelBuffer
	}
	if o.RecvChannelBuffer == 0 {
		o.RecvChannelBuffer = defaultRecvChannelBuffer
	}
	if o.AllowedOrigin == "" {
		o.AllowedOrigin = defaultAllowedOrigin
	}
	return &o
}

// closeWait is how long the close handshake may take.
func (o *Options) closeWait() time.Duration {
	return min(o.WriteWait, maxCloseWait)
}

// logf writes one line in the original's format,
// "<prefix>[<Level>] [<remote address>] <message>", when level is enabled.
// Callers on hot paths check enabled first, so that arguments are not built
// for nothing.
func (o *Options) logf(level int, remote, format string, args ...any) {
	if !o.enabled(level) {
		return
	}
	o.Logger.Printf("[%s] [%s] %s", LogLevelStrings[level], remote, fmt.Sprintf(format, args...))
}

// enabled reports whether a line at level would be written.
func (o *Options) enabled(level int) bool {
	return !o.SkipLogging && level >= 0 && level <= o.LogLevel && level < len(LogLevelStrings)
}
