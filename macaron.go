package sockets

import (
	"net/http"
	"reflect"
	"sync/atomic"

	"gopkg.in/macaron.v1"

	"github.com/go-macaron/sockets/internal/front"
	"github.com/go-macaron/sockets/internal/kind"
)

// newMiddleware returns the Macaron front for values of kind k (elem: the
// struct type V of JSON(V{})): the core's endpoint (package wschan) serving
// each request, with the connection's channels injected into the handlers
// after it instead of handed over. It returns once the connection has
// ended.
func newMiddleware(options []*Options, k kind.Kind, elem reflect.Type) macaron.Handler {
	serve := front.New(options, k, elem)
	return func(c *macaron.Context) {
		serve(c.Resp, c.Req.Request, func(conn any, send, recv reflect.Value) {
			injectConn(c, conn.(*Connection), send, recv)
		}, c.Next)
	}
}

// injectConn maps the connection and its channels into the handler chain, as
// the original did (through a connInjector in front of the context's), and
// from then on discards what the chain writes.
func injectConn(c *macaron.Context, conn *Connection, send, recv reflect.Value) {
	ci := &connInjector{Injector: c.Injector}
	// The receiver as <-chan T and the sender as chan<- T, whatever T is
	// (string, []byte, *V).
	for _, dir := range [...]struct {
		ch  reflect.Value
		dir reflect.ChanDir
	}{{recv, reflect.RecvDir}, {send, reflect.SendDir}} {
		t := reflect.ChanOf(dir.dir, dir.ch.Type().Elem())
		ci.add(t, dir.ch.Convert(t))
	}
	for _, v := range [...]any{conn, (<-chan error)(conn.Error), (chan<- int)(conn.Disconnect), (<-chan bool)(conn.Done)} {
		ci.add(reflect.TypeOf(v), reflect.ValueOf(v))
	}
	c.Injector = ci
	// Whatever the chain writes from now on is discarded instead of
	// reaching the hijacked connection: through the context, the injected
	// writer, and the renderer (ctx.Error, ctx.JSON, ctx.HTML...), which
	// holds a writer of its own.
	hw := &hijackedWriter{}
	c.Resp = hw
	c.MapTo(hw, (*http.ResponseWriter)(nil))
	switch r := c.Render.(type) {
	case nil:
	case *macaron.DummyRender:
		// No renderer registered: its calls panic as before, and its
		// embedded writer (ctx.Write, ctx.Header) is discarded too.
		c.Render = &macaron.DummyRender{ResponseWriter: hw}
	default:
		r.SetResponseWriter(hw) // the renderer mapped as macaron.Render too
	}
}

// hijackedWriter replaces Macaron's ResponseWriter once the connection is
// upgraded. Whatever the handler chain returns or writes afterwards (the
// original's example returns 200, "OK"; Macaron's recovery writes 500;
// an error branch calls ctx.Error) is discarded instead of reaching the
// hijacked connection, so net/http logs nothing about it.
//
// Written reports false until the chain writes, as the original's writer
// did after gorilla's upgrade (which wrote nothing through it): Macaron
// runs every handler after the middleware until one writes, as before.
type hijackedWriter struct {
	header  http.Header
	written atomic.Bool
}

var _ macaron.ResponseWriter = (*hijackedWriter)(nil)

// Header returns a header of its own, which goes nowhere.
func (w *hijackedWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// Write discards p.
func (w *hijackedWriter) Write([]byte) (int, error) {
	w.written.Store(true)
	return 0, http.ErrHijacked
}

// WriteHeader discards the status.
func (w *hijackedWriter) WriteHeader(int) { w.written.Store(true) }

// Written reports whether the chain has written since the upgrade.
func (w *hijackedWriter) Written() bool { return w.written.Load() }

// The rest goes nowhere; Status tells of the 101.
func (w *hijackedWriter) Flush()                               {}
func (w *hijackedWriter) Push(string, *http.PushOptions) error { return http.ErrNotSupported }
func (w *hijackedWriter) Status() int                          { return http.StatusSwitchingProtocols }
func (w *hijackedWriter) Size() int                            { return 0 }
func (w *hijackedWriter) Before(macaron.BeforeFunc)            {}
