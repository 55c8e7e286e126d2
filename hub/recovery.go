package hub

import (
	"context"
	"reflect"
	"time"

	"github.com/go-macaron/sockets/wschan"
)

// Recovery tells a member that joined from a position (JoinConnFrom) what
// it was given: either every broadcast to the room after that position,
// in order, each once, before any later one (Recovered), or nothing of the
// past and the reason (the application then resyncs its client: reloads
// the room's last messages, say).
type Recovery struct {
	// Recovered is true when every broadcast after the position was
	// replayed: no gap, and none twice.
	Recovered bool
	// Replayed is how many broadcasts were replayed.
	Replayed int
	// Reason says why the history could not be replayed: empty when it
	// was.
	Reason string
}

// The reasons a Recovery gives.
const (
	ReasonNoHistory  = "the hub keeps no history (Options.History is 0)"
	ReasonBackplane  = "a hub with a pub/sub backplane keeps no history: recovery needs a hub without a backplane, or a Streams one (Redis, Durable)"
	ReasonMalformed  = "the position is malformed"
	ReasonEpoch      = "the position is from another history: the room's history was lost (a restart, an expiry) or it is another room's"
	ReasonFuture     = "the position is past the room's last broadcast"
	ReasonTooOld     = "broadcasts after the position are no longer kept (History, HistoryTTL)"
	ReasonNoPosition = "no position given"
)

// SetStamp has f put each broadcast's position into the value, before it
// is encoded and kept: the application's own wire format carries the
// position (a field of a JSON message, a prefix of a string), no envelope
// of the hub's. Without it, a value whose type implements Positioned is
// given its position by SetPosition. Call it before the first Broadcast.
func (h *Hub[T]) SetStamp(f func(v T, pos Position) T) { h.stamp = f }

// stamped is v with its position, as SetStamp or Positioned says.
func (h *Hub[T]) stamped(v T, pos Position) T {
	if h.stamp != nil {
		return h.stamp(v, pos)
	}
	if pv, ok := any(v).(Positioned); ok && !isNil(v) {
		pv.SetPosition(pos)
	}
	return v
}

// JoinConnFrom is JoinConn for a member that had seen the room up to from
// (the Position.String of the last broadcast it got): every later
// broadcast kept in the room's history goes to it first, through its
// backlog (so the Policy bounds it as any other), then the live ones, with
// no gap and no duplicate at the seam, broadcasts made meanwhile included.
// When that cannot be (see the Reason constants), nothing of the past is
// sent and the Recovery says why; the member is in the room either way.
// An empty from asks for nothing (ReasonNoPosition).
func (h *Hub[T]) JoinConnFrom(room, name string, c *wschan.Conn[T], from string) (*Member[T], Recovery, error) {
	m := &Member[T]{Name: name, hub: h, room: room, sender: c.Sender, disconnect: c.Disconnect, done: c.Done,
		conn: c.Connection}
	return h.joinFrom(m, from)
}

// JoinFrom is Join for a member that had seen the room up to from, as
// JoinConnFrom.
func (h *Hub[T]) JoinFrom(room, name string, sender chan<- T, disconnect chan<- int, done <-chan bool, from string) (*Member[T], Recovery, error) {
	return h.joinFrom(&Member[T]{Name: name, hub: h, room: room, sender: sender, disconnect: disconnect, done: done}, from)
}

// Recoverable tells what JoinConnFrom would answer for from now, without
// joining: a handler can tell its client before the replay starts. More
// broadcasts may be replayed by the join than Replayed says here.
func (h *Hub[T]) Recoverable(room, from string) Recovery {
	if h.bp != nil && h.bp.streams != nil {
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		defer cancel()
		return h.checkStream(ctx, room, from)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	rec, _ := h.check(room, from, nil)
	return rec
}

func (h *Hub[T]) joinFrom(m *Member[T], from string) (*Member[T], Recovery, error) {
	if h.bp != nil && h.bp.streams != nil {
		return h.joinFromStream(m, from)
	}
	var rec Recovery
	var kick bool
	m, err := h.joinWith(m, func() {
		rec, kick = h.replay(m, from)
	})
	if err != nil {
		return nil, Recovery{Reason: err.Error()}, err
	}
	if kick {
		m.kick()
	}
	return m, rec, nil
}

// replay hands m the room's kept broadcasts after from. Called under the
// hub's write lock, once m is in the room: no broadcast is being delivered
// meanwhile, so each one is either kept already (and replayed) or comes
// after (and is delivered live). It reports whether m must be
// disconnected (its backlog past MaxBacklog under Disconnect).
func (h *Hub[T]) replay(m *Member[T], from string) (Recovery, bool) {
	return h.check(m.room, from, m)
}

// check answers whether the broadcasts to room after from are all kept,
// and hands them to m when m is not nil. Called under h.mu.
func (h *Hub[T]) check(room, from string, m *Member[T]) (Recovery, bool) {
	switch {
	case from == "":
		return Recovery{Reason: ReasonNoPosition}, false
	case h.opts.History == 0:
		return Recovery{Reason: ReasonNoHistory}, false
	case h.bp != nil:
		return Recovery{Reason: ReasonBackplane}, false
	}
	pos, err := ParsePosition(from)
	if err != nil {
		return Recovery{Reason: ReasonMalformed}, false
	}
	r := h.history(room, false)
	if r == nil {
		return Recovery{Reason: ReasonEpoch}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case pos.Epoch != r.epoch:
		return Recovery{Reason: ReasonEpoch}, false
	case pos.Offset >= r.next:
		return Recovery{Reason: ReasonFuture}, false
	}
	entries := r.live()
	first := r.next
	if len(entries) > 0 {
		first = entries[0].off
	}
	if pos.Offset+1 < first {
		return Recovery{Reason: ReasonTooOld}, false
	}
	missed := entries[pos.Offset+1-first:]
	if m == nil {
		return Recovery{Recovered: true, Replayed: len(missed)}, false
	}
	kick := false
	for _, e := range missed {
		kick = m.offer(e.p) || kick
	}
	h.deliveries.Add(int64(len(missed)))
	return Recovery{Recovered: true, Replayed: len(missed)}, kick
}

// Recent returns the room's last n kept broadcasts, oldest first, and the
// position of the last broadcast to the room (zero without a history):
// join with JoinConnFrom from that position, and nothing said between the
// two calls is missed.
//
// On a Streams backplane the values are the room's last n broadcasts,
// read from its stream, each stamped with its position.
func (h *Hub[T]) Recent(room string, n int) ([]T, Position) {
	if h.bp != nil && h.bp.streams != nil {
		return h.recentStream(room, n)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	// A room that has said nothing yet gets its (empty) history now, so
	// that the position is one to resume from.
	r := h.history(room, h.opts.History > 0 && h.bp == nil)
	if r == nil {
		return nil, Position{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	entries := r.live()
	entries = entries[max(len(entries)-max(n, 0), 0):]
	out := make([]T, len(entries))
	for i, e := range entries {
		out[i] = e.p.v
	}
	return out, Position{Epoch: r.epoch, Offset: r.next - 1}
}

// isNil reports whether v is a nil pointer, map, slice, channel, function
// or interface.
func isNil[T any](v T) bool {
	rv := reflect.ValueOf(any(v))
	switch rv.Kind() {
	case reflect.Invalid:
		return true
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Chan, reflect.Func:
		return rv.IsNil()
	}
	return false
}

// recentStream is Recent on a Streams backplane. The epoch is asked first:
// should the stream's data be lost between the two reads, the position
// carries the old epoch, and joining from it says so.
func (h *Hub[T]) recentStream(room string, n int) ([]T, Position) {
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	epoch, err := h.bp.freshEpoch(ctx, room)
	if err != nil {
		return nil, Position{}
	}
	// The tail may hold direct messages, which are not the room's: read
	// more of it while it does, up to four times as much.
	var out []T
	last := Position{Epoch: epoch, InStream: true} // before the first entry
	for count := max(n, 1); ; count *= 2 {
		entries, err := h.bp.streams.Tail(ctx, room, count)
		if err != nil {
			return nil, Position{}
		}
		out = out[:0]
		for i, e := range entries {
			pos, err := streamPosition(epoch, e.ID)
			if err != nil {
				return nil, Position{}
			}
			if i == len(entries)-1 {
				last = pos
			}
			if n <= 0 {
				continue
			}
			env, err := parseEnvelope(e.Data)
			if err != nil || env.to != "" {
				continue
			}
			if v, err := h.codec.payload(env.body); err == nil {
				out = append(out, h.stamped(v, pos))
			}
		}
		if len(out) >= n || len(entries) < count || count >= 4*max(n, 1) {
			break
		}
	}
	out = out[max(len(out)-max(n, 0), 0):]
	return out, last
}
