package wschan

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/internal/park"
)

// Conn is one WebSocket connection as Handler hands it over: the channels
// the Macaron constructors inject, with the same capacities, lifetime and
// guarantees, the Connection and the request.
type Conn[T any] struct {
	// Receiver carries every message from the peer. It is never closed:
	// values still in it when Done fires stay readable.
	Receiver <-chan T
	// Sender takes values to send, each as one frame. Closing it ends the
	// connection normally (1000), after what was queued before.
	Sender chan<- T
	// Error carries the cause of an abnormal end, before Done fires. A
	// normal end carries no value. It is closed once the handler has
	// taken Done's value or returned (or DoneGrace after Done fired), so
	// that a select loop whose error branch does not return, as in the
	// original's README, runs that branch at most once and never with a
	// nil error; a handler that reads it after Done gets the cause or the
	// channel closed at once.
	Error <-chan error
	// Disconnect takes a close code: what was queued on Sender goes out
	// first, then a close frame with that code.
	Disconnect chan<- int
	// Done yields true once the connection has ended, then is closed.
	Done <-chan bool

	// Connection is the connection's shared part (its options, Close).
	Connection *Connection
	// Request is the request the connection was upgraded from: its path
	// values (Request.PathValue), headers and context values.
	Request *http.Request
}

// Handler returns an http.Handler that serves a WebSocket on every request
// and hands h the connection's channels, for any net/http server or router.
// The kind of T decides the frames, as for JSON(T{}): a string kind is one
// text frame per value, a slice of bytes one binary frame, any other T one
// text frame of JSON (encoding/json Encoder output, trailing newline
// included; a message that does not decode ends the connection with 1007).
// A value put on Sender is encoded when the connection takes it, as it is
// then.
//
// As with the Macaron constructors, a method other than GET gets 405, a
// disallowed Origin 403, an invalid handshake 400, each with a plain-text
// reason, and h is not called; h runs in the request's goroutine, which
// returns once the connection has ended. Only the first Options argument
// is used; nil options panic.
func Handler[T any](h func(*Conn[T]), options ...*Options) http.Handler {
	if h == nil {
		panic("sockets: Handler(nil): pass the function that serves each connection")
	}
	o := withDefaults(options)
	e := newEndpoint(o, &writersOf[T]{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := e.upgrade(w, r)
		if p == nil {
			return
		}
		send, recv := chans[T](e, p)
		c := &Conn[T]{Receiver: recv, Sender: send, Error: p.conn.Error, Disconnect: p.conn.Disconnect, Done: p.conn.Done,
			Connection: p.conn, Request: r}
		e.run(p, r, func() { h(c) })
	})
}

// endpoint is what the connections made with one set of options share,
// whichever front serves them.
type endpoint struct {
	opts      *Options
	origins   *originPolicy
	bufs      sync.Pool    // message buffers, reused across connections
	writers   writeParker  // the idle connections' write loops
	rparker   park.Readers // their read loops
	parkAfter time.Duration
}

// newEndpoint returns the endpoint of connections made with o, whose
// idle write loops park in writers (writersOf the sender's type).
func newEndpoint(o *Options, writers writeParker) *endpoint {
	e := &endpoint{opts: o, parkAfter: max(o.ParkAfter, 0), writers: writers}
	e.origins = newOriginPolicy(o.AllowedOrigin, func(format string, args ...any) {
		o.logEvent(nil, LogLevelWarning, "AllowedOrigin is not anchored",
			fmt.Sprintf(format, args...), slog.String("allowed_origin", o.AllowedOrigin))
	})
	e.bufs.New = func() any { return new([]byte) }
	return e
}

// upgrade checks the request (method, Origin, handshake) and upgrades it,
// or answers it with the failed check's status and reason and returns nil.
// The caller sets the pump's box, then calls run.
func (e *endpoint) upgrade(w http.ResponseWriter, r *http.Request) *pump {
	o := e.opts
	if r.Method != http.MethodGet {
		method := logMethod(r.Method)
		o.logEvent(r, LogLevelWarning, "Method not allowed", "Method "+method+" is not allowed",
			slog.String("method", method))
		e.reject(w, r, http.StatusMethodNotAllowed, msgMethodNotAllowed)
		return nil
	}
	origin := r.Header.Get("Origin")
	if !e.origins.allowed(r.Host, origin) {
		if origin == "" {
			const missing = "Origin header missing"
			o.logEvent(r, LogLevelWarning, missing, missing+": browsers send one; "+
				"other clients must send one, or set AllowedOrigin to admit them")
		} else if o.enabled(LogLevelWarning) {
			origin, host := peerValue(origin), peerValue(r.Host)
			o.logEvent(r, LogLevelWarning, "Origin not allowed",
				"Origin "+origin+" is not allowed for host "+host, slog.String("origin", origin), slog.String("host", host))
		}
		e.reject(w, r, http.StatusForbidden, msgOriginNotAllowed)
		return nil
	}
	if o.enabled(LogLevelDebug) {
		origin, host := peerValue(origin), peerValue(r.Host)
		o.logEvent(r, LogLevelDebug, "Request allowed",
			"Request to "+host+" has been allowed for origin "+origin, slog.String("origin", origin), slog.String("host", host))
	}
	if status, reason := checkHandshake(w, r); status != 0 {
		o.logEvent(r, LogLevelWarning, "Handshake failed", "Handshake failed: "+reason, slog.String("reason", reason))
		e.reject(w, r, status, reason)
		return nil
	}
	proto, status, reason := o.subprotocol(r)
	if status != 0 {
		o.logEvent(r, LogLevelWarning, "Handshake failed", "Handshake failed: "+peerValue(reason),
			slog.String("reason", peerValue(reason)))
		e.reject(w, r, status, reason)
		return nil
	}

	conn := newConnection(o, r)
	uw := &upgradeWriter{ResponseWriter: w, writeWait: o.WriteWait, bufs: &e.bufs, parkAfter: e.parkAfter}
	accept := &websocket.AcceptOptions{
		InsecureSkipVerify:   true, // the origin was checked above
		CompressionMode:      o.compressionMode(),
		CompressionThreshold: o.CompressionThreshold,
	}
	if proto != "" {
		accept.Subprotocols = []string{proto} // the transport echoes it on the 101
	}
	ws, err := websocket.Accept(uw, r, accept)
	if err != nil {
		o.logEvent(r, LogLevelWarning, "Handshake failed", "Handshake failed: "+err.Error(),
			slog.String("reason", err.Error()))
		e.rejected(r, cmp.Or(uw.status, http.StatusInternalServerError))
		return nil
	}
	conn.subprotocol = ws.Subprotocol()
	conn.compressed = uw.header.Get(hdrExtensions) != ""
	return newPump(e, conn, ws, uw.conn)
}

// reject answers r with status and body instead of an upgrade, and tells
// the traces.
func (e *endpoint) reject(w http.ResponseWriter, r *http.Request, status int, body string) {
	reject(w, status, body)
	e.rejected(r, status)
}

// rejected tells the traces (the options' and the request's) that r was
// answered with status.
func (e *endpoint) rejected(r *http.Request, status int) {
	for _, t := range e.traces(r) {
		if t != nil && t.Rejected != nil {
			t.Rejected(r, status)
		}
	}
}

// traces returns the options' trace and the request's (WithConnTrace).
func (e *endpoint) traces(r *http.Request) [2]*ConnTrace {
	traces := [2]*ConnTrace{e.opts.Trace}
	traces[1], _ = r.Context().Value(traceKey{}).(*ConnTrace)
	return traces
}

// run starts the connection's loops, runs handler in this goroutine, and
// returns once the connection has ended and its goroutines are done. A
// panic in handler closes the connection with 1011, then goes on up.
func (e *endpoint) run(p *pump, r *http.Request, handler func()) {
	e.opts.logEvent(r, LogLevelInfo, "Connection established", "Connection established")
	traces := e.traces(r)
	for _, t := range traces {
		if t != nil && t.Upgraded != nil {
			t.Upgraded(p.conn)
		}
	}
	p.conn.stats.pending = p.box.lens
	p.serving = true
	p.run()
	if e.opts.Context != nil {
		// Its end ends the connection as a server's shutdown does (1001):
		// through finish, which also stops a parked write loop.
		defer context.AfterFunc(e.opts.Context, func() { p.finish(shutdownEnding()) })()
	}
	completed := false
	defer func() {
		if !completed {
			p.finish(panicEnding())
		}
		p.wait()             // the connection has ended: done has fired
		p.handing.returned() // done and the error channel are closed
		for _, t := range traces {
			if t != nil && t.Ended != nil {
				t.Ended(p.conn)
			}
		}
	}()
	handler()
	completed = true
}

// ConnTrace observes WebSocket connections, as net/http/httptrace observes
// a client's requests: as Options.Trace for every connection made with
// those options, or in a request's context (WithConnTrace) for that
// request's. Either front calls its hooks in the request's goroutine;
// either hook may be nil. Metrics and the sockettest kit use it.
type ConnTrace struct {
	// Upgraded is called once the connection is upgraded, before the
	// handler runs.
	Upgraded func(*Connection)
	// Ended is called once the connection has ended and every goroutine
	// of it has returned: Done has fired and CloseRecord is set.
	Ended func(*Connection)
	// Rejected is called when a request is answered with status instead
	// of an upgrade (405, 403, 400, 426, 501, or what the transport
	// answered), after the answer is written.
	Rejected func(r *http.Request, status int)
}

// JoinTraces returns a trace that calls each of traces' hooks in turn (nil
// traces and hooks skipped): a Metrics, a collector and a trace of the
// user's own on one Options.Trace.
func JoinTraces(traces ...*ConnTrace) *ConnTrace {
	var ts []*ConnTrace
	for _, t := range traces {
		if t != nil {
			ts = append(ts, t)
		}
	}
	if len(ts) == 1 {
		return ts[0]
	}
	return &ConnTrace{
		Upgraded: func(c *Connection) {
			for _, t := range ts {
				if t.Upgraded != nil {
					t.Upgraded(c)
				}
			}
		},
		Ended: func(c *Connection) {
			for _, t := range ts {
				if t.Ended != nil {
					t.Ended(c)
				}
			}
		},
		Rejected: func(r *http.Request, status int) {
			for _, t := range ts {
				if t.Rejected != nil {
					t.Rejected(r, status)
				}
			}
		},
	}
}

type traceKey struct{}

// WithConnTrace returns a copy of ctx that carries trace; serve a request
// with it (r.WithContext) to observe its connection.
func WithConnTrace(ctx context.Context, trace *ConnTrace) context.Context {
	return context.WithValue(ctx, traceKey{}, trace)
}
