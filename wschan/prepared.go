package wschan

import (
	"reflect"
	"sync"
	"sync/atomic"
)

// preparedFrames holds the frames encoded ahead, by Prepare, for values on
// their way through one connection's sender. It lives and dies with the
// connection; a send finds it empty without taking its lock.
type preparedFrames struct {
	n  atomic.Int32 // entries in m
	mu sync.Mutex
	m  map[any]preparedFrame
}

type preparedFrame struct {
	frame []byte
	err   error
	uses  int // times v is on its way (a connection in a room twice)
}

// Prepare says that v, when the connection takes it from the sender, goes
// out as frame (a JSON text frame as its codec writes it) instead of being
// encoded then; a non-nil err is what encoding v failed with, and the
// connection then ends as when its own encoding fails (1011, nothing
// sent). It is how package hub sends a broadcast encoded once to many
// connections, in order with everything else on their senders (as
// gorilla/websocket's PreparedMessage).
//
// v must be a pointer (anything else is ignored) that the caller puts on
// this connection's sender after Prepare, once per call, and that nothing
// else sends there; frame must not change afterwards. A v that will not be
// sent is forgotten with Unprepare, once per Prepare.
func (c *Connection) Prepare(v any, frame []byte, err error) {
	if v == nil || reflect.TypeOf(v).Kind() != reflect.Pointer {
		return
	}
	f := &c.prepared
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = make(map[any]preparedFrame)
	}
	p, ok := f.m[v]
	if !ok {
		f.n.Add(1)
	}
	f.m[v] = preparedFrame{frame, err, p.uses + 1}
}

// Unprepare forgets one Prepare of v.
func (c *Connection) Unprepare(v any) {
	if v == nil || reflect.TypeOf(v).Kind() != reflect.Pointer {
		return
	}
	c.prepared.use(v)
}

// take returns, and forgets, the frame prepared for v, a pointer; ok is
// false when none was.
func (f *preparedFrames) take(v any) (frame []byte, err error, ok bool) {
	if f.n.Load() == 0 {
		return nil, nil, false
	}
	return f.use(v)
}

// use counts one use of v's frame, and forgets it after its last.
func (f *preparedFrames) use(v any) (frame []byte, err error, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.m[v]
	switch {
	case !ok:
	case p.uses > 1:
		p.uses--
		f.m[v] = p
	default:
		delete(f.m, v)
		f.n.Add(-1)
	}
	return p.frame, p.err, ok
}
