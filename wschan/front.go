package wschan

import (
	"net/http"
	"reflect"
	"unsafe"

	"github.com/go-macaron/sockets/internal/front"
	"github.com/go-macaron/sockets/internal/kind"
)

// The Macaron front (package sockets) serves its connections with this
// package's endpoint through internal/front, so that this package neither
// imports Macaron nor exports anything for that front alone.
func init() {
	front.New = func(options any, k kind.Kind, elem reflect.Type) front.Serve {
		o := withDefaults(options.([]*Options))
		var e *endpoint
		switch k {
		case kind.Text:
			e = newEndpoint(o, &writersOf[string]{})
		case kind.Binary:
			e = newEndpoint(o, &writersOf[[]byte]{})
		default: // channels of *T made by reflection (jsonBox)
			e = newEndpoint(o, &writersOf[unsafe.Pointer]{})
		}
		return func(w http.ResponseWriter, r *http.Request, bind func(any, reflect.Value, reflect.Value), next func()) {
			p := e.upgrade(w, r)
			if p == nil {
				return
			}
			var send, recv reflect.Value
			switch k {
			case kind.Text:
				send, recv = reflected(chans[string](e, p))
			case kind.Binary:
				send, recv = reflected(chans[[]byte](e, p))
			default:
				both := reflect.ChanOf(reflect.BothDir, reflect.PointerTo(elem))
				send, recv = reflect.MakeChan(both, e.opts.SendChannelBuffer), reflect.MakeChan(both, e.opts.RecvChannelBuffer)
				p.box = &jsonBox{elem: elem, send: send, recv: recv,
					jsonOut: jsonOut{codec: e.opts.JSONCodec, bufs: &e.bufs, prep: &p.conn.prepared}}
			}
			bind(p.conn, send, recv)
			e.run(p, r, next)
		}
	}
}

// reflected returns a connection's channels as reflect values.
func reflected[T any](send, recv chan T) (reflect.Value, reflect.Value) {
	return reflect.ValueOf(send), reflect.ValueOf(recv)
}
