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
// # Lifetime
//
// A connection ends when the peer closes it (its code is echoed), when the
// handler sends a close code on disconnect or closes its sender (1000), when
// a message is too big (1009) or is not valid JSON (1007), when a write
// fails or stalls for longer than WriteWait, when the peer stays silent for
// longer than PongWait, or when Options.Context is cancelled (1001). Every
// value the handler queued on its sender before a close code or the sender's
// close is written before the close frame.
//
// The handler learns of the end once: the cause of an abnormal end is put on
// the error channel first, then done receives true and is closed, then the
// error channel is closed. A normal close (1000 or 1001 from either side)
// carries no error. By the time done fires the socket is closed and the
// read loop and any ping have returned; the write loop, which sends done,
// then closes done and the error channel and returns; Connection.CloseRecord
// then tells who ended the connection, with the close code and reason and
// the cause. The receiver is never closed: values left in it stay readable
// after done. The sender is never closed by the middleware: it accepts as
// many values as its buffer holds after done, and a send after that blocks,
// so a handler must stop sending once done fires.
//
// A handler that returns without waiting for done leaves the connection open
// and served, as in the original; the middleware returns once the connection
// has ended.
package sockets
