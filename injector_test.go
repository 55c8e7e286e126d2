package sockets

import (
	"log"
	"net/http"
	"strings"
	"testing"

	"gopkg.in/macaron.v1"
)

// service is a value a handler after the middleware maps.
type service struct{ name string }

// unmapped is a type nothing maps.
type unmapped struct{}

// closer is an interface only the *Connection implements among the
// injected values.
type closer interface{ Close(code int) error }

// TestInjectionAfterUpgrade: the connection's values sit in front of the
// context's injector (connInjector), and a chain after the middleware sees
// what it saw when they were in the context's map: the channels and the
// *Connection by type, Macaron's values (the context, the request, the
// writer, the logger mapped on the Macaron), a later handler's mapping of
// a new type and its remapping of one of the connection's types, an
// interface only the connection implements, struct fields tagged inject
// (Apply), and for a type nothing maps the error Macaron's injector gives.
func TestInjectionAfterUpgrade(t *testing.T) {
	checkLeaks(t)
	type fields struct {
		Done <-chan bool `inject:"t"`
		Svc  *service    `inject:"t"`
	}
	type seen struct {
		done, fakeDone <-chan bool
		conn           *Connection
		recv           <-chan string
		send           chan<- string
		ctx            *macaron.Context
		req            *http.Request
		w              http.ResponseWriter
		logger         *log.Logger
		svc            *service
		closer         closer
		applied        fields
		applyErr       error
		missing        error
	}
	got := make(chan seen, 1)
	fakeDone := make(chan bool)
	var realDone <-chan bool
	ts := serve(t, Messages(testOptions(&logBuffer{})),
		func(ctx *macaron.Context, done <-chan bool) {
			realDone = done
			ctx.Map(&service{name: "mine"})
			ctx.Map((<-chan bool)(fakeDone)) // over the connection's done
		},
		func(ctx *macaron.Context, done <-chan bool, conn *Connection, recv <-chan string, send chan<- string,
			req *http.Request, w http.ResponseWriter, logger *log.Logger, svc *service, c closer) {
			s := seen{done: done, fakeDone: fakeDone, conn: conn, recv: recv, send: send, ctx: ctx, req: req, w: w,
				logger: logger, svc: svc, closer: c}
			s.applyErr = ctx.Apply(&s.applied)
			_, s.missing = ctx.Invoke(func(*unmapped) {})
			got <- s
			_ = conn.Close(1000)
		})
	c := ts.dial()
	s := recv(t, got, "the handler's arguments")
	if s.done != s.fakeDone || realDone == nil || realDone == s.done {
		t.Error("the later handler's mapping of <-chan bool did not replace the connection's done")
	}
	if s.conn == nil || s.recv == nil || s.send == nil {
		t.Errorf("the connection's values: conn %v, receiver %v, sender %v", s.conn, s.recv, s.send)
	}
	if s.req != s.ctx.Req.Request || s.w != http.ResponseWriter(s.ctx.Resp) || s.logger == nil {
		t.Errorf("Macaron's values: request %p (context's %p), writer %T, logger %v", s.req, s.ctx.Req.Request, s.w, s.logger)
	}
	if s.svc == nil || s.svc.name != "mine" {
		t.Errorf("the later handler's service: %v", s.svc)
	}
	if s.closer != closer(s.conn) {
		t.Errorf("an interface only the connection implements: got %v", s.closer)
	}
	if s.applyErr != nil || s.applied.Done != s.fakeDone || s.applied.Svc != s.svc {
		t.Errorf("Apply: %v, %+v", s.applyErr, s.applied)
	}
	want := macaron.New().Invoke
	_, wantErr := want(func(*unmapped) {})
	if s.missing == nil || wantErr == nil || s.missing.Error() != wantErr.Error() {
		t.Errorf("a type nothing maps: %v, Macaron's own injector says %v", s.missing, wantErr)
	}
	if code, _ := readClose(t, c); code != 1000 {
		t.Errorf("closed with %d", code)
	}
	ts.waitFinished()
	if s.missing != nil && !strings.Contains(s.missing.Error(), "unmapped") {
		t.Errorf("the error names the type: %v", s.missing)
	}
}
