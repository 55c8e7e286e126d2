package sockets

import (
	"context"
	"net/http"
	"reflect"
	"sync"

	"github.com/coder/websocket"
	"gopkg.in/macaron.v1"
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
	o := withDefaults(options)
	return newMiddleware(o, stringKind(o))
}

// ByteSliceMessages is Messages for byte slices: it injects <-chan []byte
// (every message from the peer, text or binary, as a new slice) and
// chan<- []byte (each slice goes out as one binary frame), with the same
// error, disconnect and done channels.
func ByteSliceMessages(options ...*Options) macaron.Handler {
	o := withDefaults(options)
	return newMiddleware(o, bytesKind(o))
}

// JSON is Messages for JSON values of bindStruct's type T: it injects
// <-chan *T (each message from the peer decoded into a new *T) and
// chan<- *T (each value goes out as one text frame of encoding/json Encoder
// output, trailing newline included), with the same error, disconnect and
// done channels. A message that does not decode ends the connection with 1007;
// a value that cannot be encoded ends it with 1011 and sends nothing.
//
// As in the original, the kind of T decides: a string kind (string or a named
// string type) behaves exactly as Messages, and a slice kind exactly as
// ByteSliceMessages, without JSON encoding. JSON(nil) panics.
func JSON(bindStruct interface{}, options ...*Options) macaron.Handler {
	if bindStruct == nil {
		panic("sockets: JSON(nil): pass a value of the type to bind, such as JSON(Message{})")
	}
	o := withDefaults(options)
	t := reflect.TypeOf(bindStruct)
	switch t.Kind() {
	case reflect.String:
		return newMiddleware(o, stringKind(o))
	case reflect.Slice:
		return newMiddleware(o, bytesKind(o))
	default:
		return newMiddleware(o, jsonKind(o, t))
	}
}

// kind makes the channels of one connection, maps them into the handler's
// injector and returns the box that moves their values.
type kind func(c *Connection, ctx *macaron.Context, bufs *sync.Pool) box

func stringKind(o *Options) kind {
	return func(c *Connection, ctx *macaron.Context, _ *sync.Pool) box {
		mc := &MessageConnection{Connection: c,
			Sender: make(chan string, o.SendChannelBuffer), Receiver: make(chan string, o.RecvChannelBuffer)}
		ctx.Map((<-chan string)(mc.Receiver))
		ctx.Map((chan<- string)(mc.Sender))
		return &chanBox[string]{send: mc.Sender, recv: mc.Receiver, frame: websocket.MessageText,
			fromWire: stringFromWire, toWire: stringToWire}
	}
}

func bytesKind(o *Options) kind {
	return func(c *Connection, ctx *macaron.Context, _ *sync.Pool) box {
		bc := &ByteSliceConnection{Connection: c,
			Sender: make(chan []byte, o.SendChannelBuffer), Receiver: make(chan []byte, o.RecvChannelBuffer)}
		ctx.Map((<-chan []byte)(bc.Receiver))
		ctx.Map((chan<- []byte)(bc.Sender))
		return &chanBox[[]byte]{send: bc.Sender, recv: bc.Receiver, frame: websocket.MessageBinary,
			fromWire: bytesFromWire, toWire: bytesToWire}
	}
}

func jsonKind(o *Options, t reflect.Type) kind {
	ptr := reflect.PointerTo(t)
	both := reflect.ChanOf(reflect.BothDir, ptr)
	recvType := reflect.ChanOf(reflect.RecvDir, ptr)
	sendType := reflect.ChanOf(reflect.SendDir, ptr)
	return func(c *Connection, ctx *macaron.Context, bufs *sync.Pool) box {
		jc := &JSONConnection{Connection: c,
			Sender: reflect.MakeChan(both, o.SendChannelBuffer), Receiver: reflect.MakeChan(both, o.RecvChannelBuffer)}
		ctx.Set(recvType, jc.Receiver.Convert(recvType))
		ctx.Set(sendType, jc.Sender.Convert(sendType))
		return &jsonBox{elem: t, send: jc.Sender, recv: jc.Receiver, bufs: bufs}
	}
}

// middleware is the handler the constructors return; one serves every
// connection made with the same options.
type middleware struct {
	opts    *Options
	origins *originPolicy
	kind    kind
	bufs    sync.Pool // message buffers, reused across connections
}

func newMiddleware(o *Options, k kind) macaron.Handler {
	m := &middleware{opts: o, kind: k}
	m.origins = newOriginPolicy(o.AllowedOrigin, func(format string, args ...any) {
		o.logSetup(LogLevelWarning, format, args...)
	})
	m.bufs.New = func() any { return new([]byte) }
	return m.serve
}

// serve checks the request (method, then Origin, then the handshake),
// upgrades it, injects the channels, runs the rest of the handler chain and
// returns once the connection has ended.
func (m *middleware) serve(c *macaron.Context) {
	o, r, remote := m.opts, c.Req.Request, c.Req.RemoteAddr
	if r.Method != http.MethodGet {
		o.logf(LogLevelWarning, remote, "Method %s is not allowed", logMethod(r.Method))
		reject(c.Resp, http.StatusMethodNotAllowed, msgMethodNotAllowed)
		return
	}
	origin := r.Header.Get("Origin")
	if !m.origins.allowed(r.Host, origin) {
		o.logf(LogLevelWarning, remote, "Origin %s is not allowed for host %s", peerValue(origin), peerValue(r.Host))
		reject(c.Resp, http.StatusForbidden, msgOriginNotAllowed)
		return
	}
	if o.enabled(LogLevelDebug) {
		o.logf(LogLevelDebug, remote, "Request to %s has been allowed for origin %s", peerValue(r.Host), peerValue(origin))
	}
	if status, reason := checkHandshake(c.Resp, r); status != 0 {
		o.logf(LogLevelWarning, remote, "Handshake failed: %s", reason)
		reject(c.Resp, status, reason)
		return
	}

	conn := newConnection(o, remote)
	p := newPump(conn, &m.bufs)
	uw := &upgradeWriter{ResponseWriter: c.Resp, writeWait: o.WriteWait, bufs: &m.bufs}
	ws, err := websocket.Accept(uw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the origin was checked above
		CompressionMode:    websocket.CompressionDisabled,
		OnPongReceived:     p.onPong,
	})
	if err != nil {
		o.logf(LogLevelWarning, remote, "Handshake failed: %v", err)
		return
	}
	ws.SetReadLimit(o.MaxMessageSize)
	p.ws, p.raw, p.out = ws, uw.raw, uw.conn
	p.box = m.kind(conn, c, &m.bufs)
	c.Map((<-chan error)(conn.Error))
	c.Map((chan<- int)(conn.Disconnect))
	c.Map((<-chan bool)(conn.Done))

	hw := &hijackedWriter{}
	c.Resp = hw
	c.MapTo(hw, (*http.ResponseWriter)(nil))

	o.logf(LogLevelInfo, remote, "Connection established")
	base, release := m.baseContext(r)
	defer release()
	p.run(base)

	completed := false
	defer func() {
		if !completed {
			// The handler chain panicked: close with 1011, and let the
			// panic go on, unrecovered, to Macaron's recovery once the
			// connection is down.
			p.finish(panicEnding())
		}
		p.wait()
	}()
	c.Next()
	completed = true
}

// baseContext is the context a connection lives under: the request's values
// without its cancellation (net/http cancels it when the handler returns,
// and it stops noticing the client after the hijack), bounded by
// Options.Context when that is set. release detaches it from
// Options.Context once the connection is over.
func (m *middleware) baseContext(r *http.Request) (ctx context.Context, release func()) {
	base := context.WithoutCancel(r.Context())
	if m.opts.Context == nil {
		return base, func() {}
	}
	ctx, cancel := context.WithCancel(base)
	stop := context.AfterFunc(m.opts.Context, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}
