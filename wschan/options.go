package wschan

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
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

// defaultAllowedOrigin is AllowedOrigin's default, which the origin policy
// matches whole.
const defaultAllowedOrigin = "https?://{{host}}$"

// defaults returns the value every Options field left at its zero value
// takes: a field without one here has none.
func defaults() Options {
	return Options{
		Logger:            log.New(os.Stdout, "[sockets] ", 0),
		LogLevel:          LogLevelInfo,
		WriteWait:         60 * time.Second,
		PongWait:          60 * time.Second,
		PingPeriod:        48 * time.Second,
		MaxMessageSize:    65536,
		SendChannelBuffer: 10,
		RecvChannelBuffer: 10,
		AllowedOrigin:     defaultAllowedOrigin,
		JSONCodec:         FastJSON{},
		ParkAfter:         time.Second,
	}
}

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

	// WriteWait bounds each write to the socket (messages, pings, close
	// frames): a write not done within it ends the connection, with the
	// cause on the error channel. It also bounds the close handshake, to at
	// most 5 s. Default: 60 s.
	WriteWait time.Duration

	// PongWait is how long the peer may stay silent (no byte read from it,
	// of a message however slow, or of a pong) before it is taken for dead
	// and dropped. Neither time during which the handler holds back
	// delivery (its receiver full) nor a deadline that passes while the
	// peer's bytes wait unread in the socket (Linux) counts. Default: 60 s.
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
	// must match; every {{word}} in it (conventionally {{host}}) stands for
	// the request's Host, taken literally. As in the original, it is
	// searched anywhere in the Origin ("." admits every non-empty Origin,
	// `example\.com` admits http://notexample.com): anchor it
	// ("^https://example\.com$"), or building the handler logs a Warning.
	// A request without Origin is rejected unless the pattern matches ""
	// (".*" does). Default: "https?://{{host}}$", matched whole (closing
	// the original's prefix bypass). An invalid pattern panics when the
	// handler is built. Nothing is compiled per request or kept per Host.
	AllowedOrigin string

	// Context, when set, bounds every connection made with these options:
	// cancelling it closes each with 1001 (going away), as at a server's
	// shutdown. Default: none. An addition, as are the fields below.
	Context context.Context

	// Subprotocols lists the subprotocols the server speaks, by preference:
	// the first that the client offers (compared without regard to case) is
	// selected, put on the 101 and reported by Connection.Subprotocol. A
	// client that offers none connects without one, unless
	// SubprotocolRequired is set. Default: none (offers are ignored).
	Subprotocols []string

	// SubprotocolRequired rejects with 400, naming what the server speaks, a
	// client that offers none of Subprotocols (or for which
	// ChooseSubprotocol chooses none); the handler is not called.
	SubprotocolRequired bool

	// ChooseSubprotocol, when set, chooses the subprotocol per request
	// instead of Subprotocols: one of offered, "" for none, or an error to
	// reject the request with 400 and its text. It serves browser clients
	// that pass a token in Sec-WebSocket-Protocol.
	ChooseSubprotocol func(r *http.Request, offered []string) (string, error)

	// Slog, when set, takes every log line instead of Logger, as a record
	// under the request's context: a constant message, the level mapped
	// (Warning as Warn), and attributes (remote; at the end by, code,
	// reason, clean, messages and bytes each way, cause). Its handler
	// decides the levels: LogLevel is not consulted; SkipLogging silences.
	Slog *slog.Logger

	// Trace, when set, observes every connection made with these options
	// (Upgraded, then Ended once CloseRecord and Stats are final). It is
	// the one way to observe connections: Metrics.Trace feeds a Metrics,
	// and a trace in the request's context (WithConnTrace, as sockettest
	// uses) runs too, after this one.
	Trace *ConnTrace

	// ParkAfter is how long a connection stays idle before its read and
	// write loops give up their goroutines: parked, it costs about one
	// goroutine (the handler's) and a few kilobytes, and handles its next
	// event exactly as an unparked one would. Read parking needs Linux and
	// a TCP or Unix socket, found through wrappers that embed the net.Conn
	// or return it from NetConn; elsewhere the read loop keeps its
	// goroutine. Default: one second; negative turns parking off.
	ParkAfter time.Duration

	// Compression negotiates permessage-deflate (RFC 7692) with clients
	// that offer it (browsers do); a message is one frame, and its size
	// after decompression is bounded by MaxMessageSize (a decompression
	// bomb gets 1009 without being inflated past it). Without context
	// takeover (the default) each message is compressed on its own: a worse
	// ratio on small ones, no memory per idle connection. Do not compress
	// secrets with attacker-controlled data over TLS (CRIME, BREACH).
	// Default: off.
	Compression bool

	// CompressionContextTakeover keeps the compression window from one
	// message to the next: a better ratio on similar small messages, at
	// about 1.2 MiB of flate state per connection. Only with Compression.
	CompressionContextTakeover bool

	// CompressionThreshold is the size under which a message goes out
	// uncompressed. Default: 512 bytes without context takeover, 128 with.
	CompressionThreshold int

	// JSONCodec encodes and decodes JSON values. Default: FastJSON, which
	// reads and writes exactly what encoding/json does, faster; StdJSON{}
	// is encoding/json itself; any other JSONCodec may be plugged in. An
	// addition: the original always used encoding/json.
	JSONCodec JSONCodec
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
	set, def := reflect.ValueOf(&o).Elem(), reflect.ValueOf(defaults())
	for i := range set.NumField() {
		if f := set.Field(i); f.IsZero() {
			f.Set(def.Field(i))
		}
	}
	return &o
}

// closeWait is how long the close handshake may take: how long the
// connection waits for the peer's close frame after sending its own.
func (o *Options) closeWait() time.Duration { return min(o.WriteWait, 5*time.Second) }

// logEvent writes one event at level, when that level is enabled. With
// Slog it is a record under r's context whose message is msg, a constant,
// with r's remote address and attrs as attributes. With Logger alone it is
// the original's line, "<prefix>[<Level>] [<remote>] <text>", text saying
// the same as msg and attrs in the original's words. r may be nil (no
// remote part). Callers on hot paths check enabled first, so that
// attributes are not built for nothing.
func (o *Options) logEvent(r *http.Request, level int, msg, text string, attrs ...slog.Attr) {
	if !o.enabled(level) {
		return
	}
	ctx, remote := context.Background(), ""
	if r != nil {
		ctx, remote = r.Context(), r.RemoteAddr
	}
	if o.Slog != nil {
		if r != nil {
			path := ""
			if r.URL != nil {
				path = r.URL.Path
			}
			attrs = append([]slog.Attr{slog.String("remote", remote), slog.String("path", path)}, attrs...)
		}
		o.Slog.LogAttrs(ctx, slogLevel(level), msg, attrs...)
		return
	}
	if remote == "" {
		o.Logger.Printf("[%s] %s", LogLevelStrings[level], text)
		return
	}
	o.Logger.Printf("[%s] [%s] %s", LogLevelStrings[level], remote, text)
}

// maxLogValue bounds how much of a value the peer controls (a header, a
// method) goes into a log line.
const maxLogValue = 128

// peerValue quotes a value the peer controls for a log line, cut to
// maxLogValue bytes on a rune boundary, with its full length when cut, so
// that one request cannot write megabytes into the log or forge a line.
func peerValue(s string) string {
	if len(s) <= maxLogValue {
		return strconv.Quote(s)
	}
	n := maxLogValue
	for i := 1; i < utf8.UTFMax && !utf8.RuneStart(s[n]); i++ {
		n-- // do not split a rune
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:n]), len(s))
}

// logMethod is a request method for a log line: as it is, as the original
// logged it, when it is a short one (net/http admits only tokens, which
// cannot break a line), and as a peerValue otherwise.
func logMethod(m string) string {
	if len(m) <= 16 {
		return m
	}
	return peerValue(m)
}

// enabled reports whether a line at level would be written.
func (o *Options) enabled(level int) bool {
	if o.SkipLogging || level < 0 || level >= len(LogLevelStrings) {
		return false
	}
	if o.Slog != nil {
		return o.Slog.Enabled(context.Background(), slogLevel(level))
	}
	return level <= o.LogLevel
}

// compressionMode is the transport's mode for the options.
func (o *Options) compressionMode() websocket.CompressionMode {
	switch {
	case !o.Compression:
		return websocket.CompressionDisabled
	case o.CompressionContextTakeover:
		return websocket.CompressionContextTakeover
	}
	return websocket.CompressionNoContextTakeover
}

// slogLevel maps a level of ours to slog's.
func slogLevel(level int) slog.Level {
	return [...]slog.Level{slog.LevelError, slog.LevelWarn, slog.LevelInfo, slog.LevelDebug}[min(max(level, 0), LogLevelDebug)]
}
