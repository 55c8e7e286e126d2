// Package front joins the Macaron front (package sockets, at the module's
// root) to the core (package wschan) without either depending on what it
// should not: the core never imports Macaron, and it exports nothing for
// the Macaron front alone.
//
// The core sets New when it is initialised, once; nothing else sets it,
// and nothing outside this module can reach it.
package front

import (
	"net/http"
	"reflect"

	"github.com/go-macaron/sockets/internal/kind"
)

// Serve serves one request as wschan.Handler does: it checks and upgrades
// r, answering w when a check fails; otherwise it hands bind the
// connection (a *wschan.Connection) and its sender and receiver (chan
// string, chan []byte or chan *V), runs next in this goroutine, and
// returns once the connection has ended.
type Serve func(w http.ResponseWriter, r *http.Request, bind func(conn any, send, recv reflect.Value), next func())

// New returns the Serve of the connections made with options (a
// []*wschan.Options, of which only the first is used) for values of kind
// k; elem is the struct type V for JSON. Package wschan sets it.
var New func(options any, k kind.Kind, elem reflect.Type) Serve
