// Package encodeonce lets a value that is sent to many connections be
// encoded once: the hub marks each pointer it broadcasts, and the first
// connection that encodes a marked pointer leaves the bytes for the others.
//
// The table is bounded (by entries and by encoded bytes), keeps the newest
// marks and forgets the oldest: a connection that finds no entry encodes
// the value itself, as it would without the table. A marked value must not
// be changed after the mark, which a value sent on channels to other
// goroutines cannot be without a data race anyway.
package encodeonce

import (
	"sync"
	"sync/atomic"
)

// Limits of the table: the newest marks it remembers, and the encoded
// bytes it may hold.
const (
	maxEntries = 1024
	maxBytes   = 4 << 20
)

// Table maps marked pointers to their encoding. Its zero value is not
// usable; Shared is the one table of the process.
type Table struct {
	live    atomic.Int32 // entries present: lookups stop here when zero
	entries sync.Map     // pointer (as any) -> *entry
	bytes   atomic.Int64 // encoded bytes held

	mu   sync.Mutex
	ring [maxEntries]any // keys, oldest at next once full
	next int
}

// Shared is the process's table. It is shared state by necessity: a hub
// and the connections it sends to only share the values themselves. It
// holds at most 1024 entries and 4 MiB of encodings.
var Shared = &Table{}

type entry struct {
	once  sync.Once
	codec Encoder // the codec that filled it: others encode for themselves
	b     []byte
	err   error
	size  atomic.Int64 // len(b) once counted in the table's bytes; -1 once forgotten
}

// Mark records that v (a pointer) is about to be sent to many connections.
func (t *Table) Mark(v any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, loaded := t.entries.LoadOrStore(v, &entry{}); loaded {
		return
	}
	if old := t.ring[t.next]; old != nil {
		t.forget(old)
	}
	t.ring[t.next] = v
	t.next = (t.next + 1) % maxEntries
	t.live.Add(1)
	// Over the byte budget: forget the oldest until under it.
	for i := 0; t.bytes.Load() > maxBytes && i < maxEntries; i++ {
		k := (t.next + i) % maxEntries
		if old := t.ring[k]; old != nil && old != v {
			t.forget(old)
			t.ring[k] = nil
		}
	}
}

func (t *Table) forget(k any) {
	if e, ok := t.entries.LoadAndDelete(k); ok {
		if n := e.(*entry).size.Swap(-1); n > 0 {
			t.bytes.Add(-n)
		}
		t.live.Add(-1)
	}
}

// Encoder is what encodes: sockets.JSONCodec's encoding half. It must be
// comparable (the table tells codecs apart with ==).
type Encoder interface {
	AppendEncode(dst []byte, v any) ([]byte, error)
}

// Encoded returns v's encoding by codec, encoding at most once per
// marked v and codec; ok is false when v is not marked (or was forgotten)
// or was encoded by another codec, and the caller encodes it itself. The
// bytes returned are shared: they must not be changed or pooled.
func (t *Table) Encoded(v any, codec Encoder) (b []byte, ok bool, err error) {
	if t.live.Load() == 0 {
		return nil, false, nil
	}
	found, present := t.entries.Load(v)
	if !present {
		return nil, false, nil
	}
	e := found.(*entry)
	e.once.Do(func() {
		e.codec = codec
		e.b, e.err = codec.AppendEncode(nil, v)
		if n := int64(len(e.b)); n > 0 && e.size.CompareAndSwap(0, n) {
			t.bytes.Add(n)
		}
	})
	if e.codec != codec {
		return nil, false, nil
	}
	return e.b, true, e.err
}
