package wschan

import (
	"net/http"
	"reflect"

	"github.com/go-macaron/sockets/internal/front"
	"github.com/go-macaron/sockets/internal/kind"
)

// The Macaron front (package sockets) serves its connections with this
// package's endpoint through internal/front, so that this package neither
// imports Macaron nor exports anything for that front alone.
func init() {
	front.New = func(options any) front.Endpoint {
		return macaronEndpoint{newEndpoint(withDefaults(options.([]*Options)))}
	}
}

type macaronEndpoint struct{ *endpoint }

// Serve implements front.Endpoint.
func (e macaronEndpoint) Serve(w http.ResponseWriter, r *http.Request, k kind.Kind, elem reflect.Type,
	bind func(front.Channels), next func()) {
	p := e.upgrade(w, r)
	if p == nil {
		return
	}
	ch := front.Channels{Connection: p.Connection}
	switch k {
	case kind.Text:
		ch.Send, ch.Recv = reflected(chans[string](e.endpoint, p))
	case kind.Binary:
		ch.Send, ch.Recv = reflected(chans[[]byte](e.endpoint, p))
	default:
		both := reflect.ChanOf(reflect.BothDir, reflect.PointerTo(elem))
		ch.Send, ch.Recv = reflect.MakeChan(both, e.opts.SendChannelBuffer), reflect.MakeChan(both, e.opts.RecvChannelBuffer)
		p.box = &jsonBox{elem: elem, send: ch.Send, recv: ch.Recv,
			jsonOut: jsonOut{codec: e.opts.JSONCodec, bufs: &e.bufs, prep: &p.prepared}}
	}
	bind(ch)
	e.run(p, r, next)
}

// reflected returns a connection's channels as reflect values.
func reflected[T any](send, recv chan T) (reflect.Value, reflect.Value) {
	return reflect.ValueOf(send), reflect.ValueOf(recv)
}
