// Package sockets binds a WebSocket connection to Go channels for Macaron:
// it is middleware that upgrades the request and injects the channels into
// the next handler, a drop-in replacement for the original
// github.com/go-macaron/sockets, built on github.com/coder/websocket. It
// exports the original's names and no others; its core, for any net/http
// server or router and without Macaron, is package
// github.com/go-macaron/sockets/wschan, whose Options and Connection are
// the same types as this package's.
//
// Messages, ByteSliceMessages and JSON each return a handler that checks the
// request (method GET, an allowed Origin, a valid handshake), upgrades it and
// injects five channels into the handlers after it, and the *Connection:
//
//	<-chan T      receiver: what the peer sends (T is string, []byte or *V)
//	chan<- T      sender: what to send to the peer
//	<-chan error  the cause of an abnormal end
//	chan<- int    disconnect: a close code ends the connection
//	<-chan bool   done: true once the connection has ended, then closed
//
// The connection's lifetime and guarantees are the core's: see the package
// documentation of wschan. In short, the handler learns of the end once
// (the cause of an abnormal end on the error channel, then true on done,
// then both closed), everything queued before a close goes out before the
// close frame, and a handler that returns without waiting for done leaves
// the connection open and served, as in the original; the middleware
// returns once the connection has ended.
package sockets
