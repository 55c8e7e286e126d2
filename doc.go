// Package sockets binds a WebSocket connection to Go channels for Macaron:
// a drop-in replacement for the original github.com/go-macaron/sockets,
// built on github.com/coder/websocket, exporting the original's names and
// no others. Messages, ByteSliceMessages and JSON each return middleware
// that checks the request (method GET, an allowed Origin, a valid
// handshake), upgrades it and injects into the handlers after it the
// *Connection and five channels (see Messages): a receiver, a sender, the
// cause of an abnormal end, a disconnect channel and done.
//
// The core, for any net/http server or router and without Macaron, is
// package github.com/go-macaron/sockets/wschan, whose Options and
// Connection are this package's; its documentation gives the connection's
// lifetime and guarantees. The middleware returns once the connection has
// ended.
package sockets
