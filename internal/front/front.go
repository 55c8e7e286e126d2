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

// Channels are one upgraded connection's channels, made by the core.
type Channels struct {
	// Connection is the connection's *wschan.Connection.
	Connection any
	// Send and Recv are the sender and receiver, as chan T of the
	// requested kind (chan string, chan []byte or chan *V).
	Send, Recv reflect.Value
}

// Endpoint serves the connections made with one set of options.
type Endpoint interface {
	// Serve checks and upgrades r. When a check fails it answers w and
	// returns. Otherwise it makes the connection's channels for values of
	// kind k (elem is the struct type V for JSON), hands them to bind,
	// runs next in this goroutine, and returns once the connection has
	// ended, as wschan.Handler does.
	Serve(w http.ResponseWriter, r *http.Request, k kind.Kind, elem reflect.Type, bind func(Channels), next func())
}

// New returns the endpoint for options (a []*wschan.Options, of which
// only the first is used). Package wschan sets it.
var New func(options any) Endpoint
