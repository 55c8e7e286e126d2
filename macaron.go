package sockets

import (
	"net/http"
	"reflect"

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
			inject(c, conn.(*Connection), send, recv)
		}, c.Next)
	}
}

// inject maps the connection and its channels into the handler chain, as
// the original did, and from then on discards what the chain writes.
func inject(c *macaron.Context, conn *Connection, send, recv reflect.Value) {
	// The receiver as <-chan T and the sender as chan<- T, whatever T is
	// (string, []byte, *V).
	for _, dir := range [...]struct {
		ch  reflect.Value
		dir reflect.ChanDir
	}{{recv, reflect.RecvDir}, {send, reflect.SendDir}} {
		t := reflect.ChanOf(dir.dir, dir.ch.Type().Elem())
		c.Set(t, dir.ch.Convert(t))
	}
	c.Map(conn)
	c.Map((<-chan error)(conn.Error))
	c.Map((chan<- int)(conn.Disconnect))
	c.Map((<-chan bool)(conn.Done))
	// Whatever the chain writes from now on is discarded instead of
	// reaching the hijacked connection.
	hw := &hijackedWriter{}
	c.Resp = hw
	c.MapTo(hw, (*http.ResponseWriter)(nil))
}

// hijackedWriter replaces Macaron's ResponseWriter once the connection is
// upgraded. Whatever the handler chain returns or writes afterwards (the
// original's example returns 200, "OK"; Macaron's recovery writes 500) is
// discarded instead of reaching the hijacked connection, so net/http logs
// nothing about it.
type hijackedWriter struct {
	header http.Header
}

var _ macaron.ResponseWriter = (*hijackedWriter)(nil)

// Header returns a header of its own, which goes nowhere.
func (w *hijackedWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// What the chain writes goes nowhere; Status and Written tell of the 101.
func (w *hijackedWriter) Write([]byte) (int, error)            { return 0, http.ErrHijacked }
func (w *hijackedWriter) WriteHeader(int)                      {}
func (w *hijackedWriter) Flush()                               {}
func (w *hijackedWriter) Push(string, *http.PushOptions) error { return http.ErrNotSupported }
func (w *hijackedWriter) Status() int                          { return http.StatusSwitchingProtocols }
func (w *hijackedWriter) Written() bool                        { return true }
func (w *hijackedWriter) Size() int                            { return 0 }
func (w *hijackedWriter) Before(macaron.BeforeFunc)            {}
