package hub

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Streams is a Backplane that keeps each room's messages in a stream, in
// one order, each with an id (the Redis backplane in Durable mode). With
// Options.History, a hub on such a backplane delivers every broadcast, its
// own included, in the stream's order, stamped with its stream Position,
// so that a room's members on every server see one order, and a member
// rejoins from its last position on any server (JoinConnFrom): the stream
// is the history, shared by every server of the room.
type Streams interface {
	Backplane
	// Ordered reports whether the backplane runs on streams (false: on
	// pub/sub, where nothing is kept).
	Ordered() bool
	// RunStreams is Run, with each message's stream entry id.
	RunStreams(ctx context.Context, deliver func(room, id string, msg []byte))
	// Epoch returns the room's stream epoch: the same on every server
	// until the stream's history is lost (its data flushed), a new one then.
	Epoch(ctx context.Context, room string) (string, error)
	// Kept reports whether the room's stream still holds every entry
	// after id (none of them trimmed or deleted).
	Kept(ctx context.Context, room, id string) (bool, error)
	// Range returns up to count entries of the room's stream after id, in
	// order.
	Range(ctx context.Context, room, after string, count int) ([]StreamEntry, error)
	// ReadFrom returns the id after which this server delivers the room's
	// entries live, once it reads the room (ok false before).
	ReadFrom(room string) (id string, ok bool)
	// Tail returns the room's last count entries, oldest first (none for
	// a room that has none).
	Tail(ctx context.Context, room string, count int) ([]StreamEntry, error)
}

// StreamEntry is one message of a room's stream.
type StreamEntry struct {
	ID   string
	Data []byte
}

// ReasonUnavailable is a Recovery's reason when the backplane could not be
// asked (Redis away): the application resyncs, or tries again later.
const ReasonUnavailable = "the room's history could not be read (the backplane is unavailable)"

// exceptKey is one of this server's messages to a room.
type exceptKey struct {
	room string
	seq  uint64
}

// heldEntry is a live delivery held while its member catches up.
type heldEntry[T any] struct {
	pos Position
	p   *parcel[T]
}

// epoch returns the room's stream epoch, asking the backplane once per
// connection: the cache is dropped whenever the backplane has had to
// reconnect since it was filled (a Redis restarted without its data has
// new epochs, and a position stamped with the old one must not pass for
// the new history).
func (b *bridge[T]) epoch(ctx context.Context, room string) (string, error) {
	retries := b.retries()
	b.epochMu.Lock()
	if retries != b.epochsAt {
		clear(b.epochs)
		b.epochsAt = retries
	}
	e, ok := b.epochs[room]
	b.epochMu.Unlock()
	if ok {
		return e, nil
	}
	return b.freshEpoch(ctx, room)
}

// freshEpoch asks the backplane for the room's epoch, and caches it.
// Recovery asks it every time: data flushed while the connection stayed
// up changes it too.
func (b *bridge[T]) freshEpoch(ctx context.Context, room string) (string, error) {
	retries := b.retries()
	e, err := b.streams.Epoch(ctx, room)
	if err != nil {
		return "", fmt.Errorf("the epoch of room %q: %w", room, err)
	}
	b.epochMu.Lock()
	if retries == b.epochsAt {
		b.epochs[room] = e
	}
	b.epochMu.Unlock()
	return e, nil
}

// retries is how many times the backplane has had to reconnect (0 when it
// does not say).
func (b *bridge[T]) retries() int64 {
	if r, ok := b.bp.(StateReporter); ok {
		return r.State().Retries
	}
	return 0
}

// receiveEntry delivers one entry of a room's stream to the local
// members, this server's own broadcasts included, stamped with its
// position. Direct messages (SendTo) were delivered when sent and take no
// position, as without streams.
func (b *bridge[T]) receiveEntry(room, id string, msg []byte) {
	h := b.h
	e, err := parseEnvelope(msg)
	if err != nil {
		b.malformedMessage(room, err)
		return
	}
	if e.to != "" {
		b.receive(room, msg) // not history: as without streams
		return
	}
	own := e.node == h.node
	if !own {
		b.noteLag(e)
	}
	if !b.fresh(room, e, own) {
		return // a publish retried: the stream holds it twice
	}
	var except *Member[T]
	if own {
		b.epochMu.Lock()
		key := exceptKey{room, e.seq}
		except = b.excepts[key]
		delete(b.excepts, key)
		b.epochMu.Unlock()
	}
	pos, err := b.position(room, id)
	if err != nil {
		h.opts.logEvent(slog.LevelError, "Stream entry without a position", slog.String("room", room),
			slog.String("id", id), slog.String("error", err.Error()))
		return
	}
	v, err := h.codec.payload(e.body)
	if err != nil {
		b.malformedMessage(room, err)
		return
	}
	p := h.codec.newParcel(h.stamped(v, pos), nil)
	var acted []*Member[T]
	n := int64(0)
	h.mu.RLock()
	for m := range h.rooms[room] {
		if m == except {
			continue
		}
		n++
		if m.offerAt(p, pos) {
			acted = append(acted, m)
		}
	}
	h.mu.RUnlock()
	h.deliveries.Add(n)
	for _, m := range acted {
		m.kick()
	}
}

// position is the position of room's stream entry id, with the room's
// epoch (asked of the backplane, at most three times a second while it
// fails: the stream was just read, so it rarely does).
func (b *bridge[T]) position(room, id string) (Position, error) {
	pos, err := streamPosition("", id)
	if err != nil {
		return Position{}, err
	}
	var epoch string
	for try := range 3 {
		ctx, cancel := context.WithTimeout(b.h.ctx, time.Second)
		epoch, err = b.epoch(ctx, room)
		cancel()
		if err == nil || b.h.ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
	if err != nil {
		return Position{}, err
	}
	pos.Epoch = epoch
	return pos, nil
}

// offerAt offers p, the stream entry at pos, unless the member had it
// already; while the member catches up, it is held.
func (m *Member[T]) offerAt(p *parcel[T], pos Position) (kick bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone {
		return false
	}
	if m.catching {
		if len(m.held) >= m.hub.opts.MaxBacklog {
			m.overflow = true
			return false
		}
		m.held = append(m.held, heldEntry[T]{pos, p})
		return false
	}
	if m.last.InStream && !pos.after(m.last) {
		return false // replayed already
	}
	m.last = pos
	return m.offerLocked(p)
}

// joinFromStream is JoinConnFrom on a Streams backplane: the member joins
// at once, its live deliveries held; the entries of the room's stream
// after from are replayed to it, page by page, through its backlog; then
// the held ones after the last replayed, and from then on it is live.
func (h *Hub[T]) joinFromStream(m *Member[T], from string) (*Member[T], Recovery, error) {
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	rec := h.checkStream(ctx, m.room, from)
	if rec.Reason != "" {
		m, err := h.join(m)
		return m, rec, err
	}
	pos, _ := ParsePosition(from)
	m.catching, m.last = true, pos
	m, err := h.join(m)
	if err != nil {
		return nil, Recovery{Reason: err.Error()}, err
	}
	n, err := h.catchUp(ctx, m)
	m.mu.Lock()
	kick := false
	for _, e := range m.held {
		if e.pos.after(m.last) {
			m.last = e.pos
			kick = m.offerLocked(e.p) || kick
		}
	}
	m.held, m.catching = nil, false
	overflow := m.overflow
	m.mu.Unlock()
	if kick {
		m.kick()
	}
	switch {
	case err != nil:
		return m, Recovery{Replayed: n, Reason: ReasonUnavailable}, nil
	case overflow:
		return m, Recovery{Replayed: n, Reason: "the room said more than MaxBacklog while the member caught up"}, nil
	}
	return m, Recovery{Recovered: true, Replayed: n}, nil
}

// checkStream answers whether the room's stream holds everything after
// from.
func (h *Hub[T]) checkStream(ctx context.Context, room, from string) Recovery {
	if from == "" {
		return Recovery{Reason: ReasonNoPosition}
	}
	pos, err := ParsePosition(from)
	if err != nil || !pos.InStream {
		return Recovery{Reason: ReasonMalformed}
	}
	epoch, err := h.bp.freshEpoch(ctx, room)
	if err != nil {
		return Recovery{Reason: ReasonUnavailable}
	}
	if epoch != pos.Epoch {
		return Recovery{Reason: ReasonEpoch}
	}
	ok, err := h.bp.streams.Kept(ctx, room, pos.streamID())
	if err != nil {
		return Recovery{Reason: ReasonUnavailable}
	}
	if !ok {
		return Recovery{Reason: ReasonTooOld} // trimmed, or never there
	}
	return Recovery{Recovered: true}
}

// replayPage is how many stream entries a catch-up reads at once.
const replayPage = 256

// catchUp replays to m the room's entries after m.last until it has
// passed the point after which this server delivers the room live.
func (h *Hub[T]) catchUp(ctx context.Context, m *Member[T]) (int, error) {
	s := h.bp.streams
	var start Position
	for {
		id, ok := s.ReadFrom(m.room)
		if ok {
			var err error
			if start, err = streamPosition("", id); err != nil {
				return 0, err
			}
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond): // the room's reading starts soon after the join
		}
	}
	n := 0
	for {
		m.mu.Lock()
		after, gone := m.last, m.gone
		m.mu.Unlock()
		if gone {
			return n, nil // it left meanwhile: nobody to replay to
		}
		entries, err := s.Range(ctx, m.room, after.streamID(), replayPage)
		if err != nil {
			return n, err
		}
		for _, e := range entries {
			pos, err := h.bp.position(m.room, e.ID)
			if err != nil {
				return n, err
			}
			env, err := parseEnvelope(e.Data)
			if err != nil || env.to != "" && env.to != m.Name {
				m.mu.Lock()
				m.last = pos // not for this member: passed over
				m.mu.Unlock()
				continue
			}
			if env.to != "" {
				continue // a direct message: not history
			}
			v, err := h.codec.payload(env.body)
			if err != nil {
				return n, err
			}
			p := h.codec.newParcel(h.stamped(v, pos), nil)
			m.mu.Lock()
			m.last = pos
			kick := m.offerLocked(p)
			m.mu.Unlock()
			if kick {
				m.kick()
			}
			n++
		}
		m.mu.Lock()
		last := m.last
		m.mu.Unlock()
		if len(entries) < replayPage && !start.after(last) {
			return n, nil
		}
		if len(entries) == 0 {
			// The stream ends before where live reading starts: nothing
			// was there.
			return n, nil
		}
	}
}
