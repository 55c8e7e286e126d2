// Package wschan binds a WebSocket connection to Go channels for any
// net/http server or router. It is the core of github.com/go-macaron/sockets,
// whose Macaron middleware (a drop-in for the original go-macaron/sockets)
// injects the same channels; it imports no Macaron. It is built on
// github.com/coder/websocket; package sockettest tests handlers of either
// front.
//
// Handler[T] checks each request (method GET, an allowed Origin, a valid
// handshake), upgrades it and hands five channels to a function in a
// Conn[T], with the *Connection:
//
//	<-chan T      Receiver: what the peer sends
//	chan<- T      Sender: what to send to the peer
//	<-chan error  Error: the cause of an abnormal end
//	chan<- int    Disconnect: a close code ends the connection
//	<-chan bool   Done: true once the connection has ended, then closed
//
// The kind of T decides the frames: a string kind is text, a slice of bytes
// binary, anything else JSON.
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
// The handler learns of the end once: the cause of an abnormal end on the
// error channel first (a normal close, 1000 or 1001 from either side,
// carries none), then true on done, then both closed. By then the socket is
// closed and the connection's other goroutines have returned, and
// Connection.CloseRecord tells who ended it, with the code, reason and
// cause. The receiver is never closed: values left in it stay readable.
// The sender is never closed by the package; after done it takes what its
// buffer holds and then blocks, so a handler stops sending once done fires.
//
// A handler that returns without waiting for done leaves the connection open
// and served, as in the original; Handler returns once the connection has
// ended.
package wschan
