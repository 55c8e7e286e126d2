package hub

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Backplane carries broadcasts between servers, room by room: each server
// subscribes to the rooms it has members in, and hears only those.
type Backplane interface {
	// Run calls deliver with every message published to a room this
	// server is subscribed to, in publish order per publisher and room,
	// until ctx is done, resubscribing by itself when its connection
	// fails. deliver may be called from several goroutines.
	Run(ctx context.Context, deliver func(room string, msg []byte))
	// Subscribe and Unsubscribe change the rooms this server hears. Called
	// under the hub's lock, they must not wait for the network: the change
	// is applied soon after, batched. The last call for a room wins.
	Subscribe(room string)
	Unsubscribe(room string)
	// Publish sends each message to its room's subscribers, in order, and
	// says how many of them it could not send (with the first error).
	Publish(ctx context.Context, msgs []Message) (failed int, err error)
}

// StateReporter is a Backplane that reports its connection (Stats.Backplane).
type StateReporter interface {
	State() BackplaneState
}

// BackplaneState is a backplane's connection at one moment.
type BackplaneState struct {
	// Up is false while any of its subscriptions or stream reads is failing.
	Up bool
	// DownSince is when it last went down; zero while it is up.
	DownSince time.Time
	// Retries counts the tries to reconnect, since it started.
	Retries int64
}

// Message is one broadcast on its way through a Backplane.
type Message struct {
	Room string
	Data []byte
}

// PresenceBackplane is a Backplane that also knows who is in each room
// on every server.
type PresenceBackplane interface {
	Backplane
	// SetPresent records (or, with present false, forgets) a member. It
	// must not wait for the network. A backplane keeps the records of a
	// server that dies without forgetting them for a bounded time only.
	SetPresent(room string, p Presence, present bool)
	// Present lists room's members on every server.
	Present(ctx context.Context, room string) ([]Presence, error)
}

// Presence is one member of a room, on one server.
type Presence struct {
	Name   string
	Server string
}

// Presence lists room's members on every server, sorted by name then
// server, when the backplane keeps presence, and on this server otherwise.
func (h *Hub[T]) Presence(ctx context.Context, room string) ([]Presence, error) {
	if h.bp != nil && h.bp.presence != nil {
		ps, err := h.bp.presence.Present(ctx, room)
		if err != nil {
			return nil, fmt.Errorf("presence of room %q: %w", room, err)
		}
		slices.SortFunc(ps, func(a, b Presence) int {
			return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Server, b.Server))
		})
		return ps, nil
	}
	names := h.Members(room)
	ps := make([]Presence, len(names))
	for i, n := range names {
		ps[i] = Presence{Name: n, Server: h.opts.Server}
	}
	return ps, nil
}

// publishBatch is how many waiting messages one Publish call takes.
const publishBatch = 256

// ErrBackplaneFull is what Broadcast returns when the messages waiting for
// the backplane (Options.BackplaneBuffer) have no room for its message: it
// reached the local members, not the other servers, whose hubs count it in
// Stats.Lost.
var ErrBackplaneFull = errors.New("hub: the backplane's buffer is full (Redis down or slow?): not published to the other servers")

// bridge is the hub's side of a backplane: sequence numbers out, duplicate
// suppression and gap counting in.
type bridge[T any] struct {
	h        *Hub[T]
	bp       Backplane
	presence PresenceBackplane // nil if the backplane keeps none

	pubMu sync.Mutex
	seq   map[string]uint64 // room -> last sequence number published

	// What waits for the backplane, oldest first, and its bytes, which
	// include the batch being published.
	outMu    sync.Mutex
	out      []Message
	outBytes int
	refused  int64         // messages refused since the buffer last had room
	wake     chan struct{} // a message was queued

	seenMu sync.Mutex
	seen   map[string]map[string]uint64 // room -> publisher -> last sequence number received

	// With a Streams backplane and a history: every broadcast is
	// delivered from the room's stream, in its order, this server's own
	// included (streams.go).
	streams  Streams
	epochMu  sync.Mutex
	epochs   map[string]string        // room -> its stream's epoch
	epochsAt int64                    // the backplane's Retries when epochs was last valid
	excepts  map[exceptKey]*Member[T] // this server's message -> the member BroadcastOthers left out
}

func newBridge[T any](h *Hub[T]) *bridge[T] {
	b := &bridge[T]{h: h, bp: h.opts.Backplane, wake: make(chan struct{}, 1),
		seq: make(map[string]uint64), seen: make(map[string]map[string]uint64)}
	b.presence, _ = b.bp.(PresenceBackplane)
	if s, ok := b.bp.(Streams); ok && s.Ordered() && h.opts.History > 0 {
		b.streams, b.epochs, b.excepts = s, make(map[string]string), make(map[exceptKey]*Member[T])
	}
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		if b.streams != nil {
			b.streams.RunStreams(h.ctx, b.receiveEntry)
			return
		}
		b.bp.Run(h.ctx, b.receive)
	}()
	go b.publishLoop()
	return b
}

func (b *bridge[T]) roomOpened(room string) {
	b.seenMu.Lock()
	delete(b.seen, room) // a new subscription: no gap to count yet
	b.seenMu.Unlock()
	b.bp.Subscribe(room)
}

func (b *bridge[T]) roomClosed(room string) {
	b.seenMu.Lock()
	delete(b.seen, room)
	b.seenMu.Unlock()
	b.bp.Unsubscribe(room)
}

func (b *bridge[T]) present(room, name string, here bool) {
	if b.presence != nil {
		b.presence.SetPresent(room, Presence{Name: name, Server: b.h.opts.Server}, here)
	}
}

// publish numbers, encodes and queues p for the backplane, never held up
// by it. A message that cannot be queued still takes its sequence number,
// so that the other servers count it as lost.
func (b *bridge[T]) publish(room string, p *parcel[T], to string) error {
	return b.publishExcept(room, p, to, nil)
}

// publishExcept is publish, keeping except to leave out when the message
// comes back from the stream (streams mode).
func (b *bridge[T]) publishExcept(room string, p *parcel[T], to string, except *Member[T]) error {
	h := b.h
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	seq := b.seq[room] + 1
	b.seq[room] = seq
	if except != nil && b.streams != nil {
		b.epochMu.Lock()
		b.excepts[exceptKey{room, seq}] = except
		b.epochMu.Unlock()
	}
	msg := appendEnvelope(make([]byte, 0, 64), envelope{node: h.node, seq: seq, sentAt: time.Now().UnixNano(), to: to})
	var err error
	if p.prepared() {
		msg = append(msg, p.frame...)
		if p.err != nil {
			err = fmt.Errorf("encode %T: %w", p.v, p.err)
		}
	} else {
		msg, err = h.codec.appendPayload(msg, p.v)
	}
	if err != nil {
		h.publishFailures.Add(1)
		h.opts.logEvent(slog.LevelError, "Publish failed",
			slog.String("room", room), slog.String("error", err.Error()))
		return err
	}
	if err := b.queue(Message{Room: room, Data: msg}); err != nil {
		h.publishFailures.Add(1)
		return err
	}
	return nil
}

// queue adds m to what waits for the backplane, within BackplaneBuffer
// bytes. The first refusal while the buffer is full is logged; the count
// of refusals is logged once it has room again.
func (b *bridge[T]) queue(m Message) error {
	h := b.h
	b.outMu.Lock()
	defer b.outMu.Unlock()
	if b.outBytes+len(m.Data) > h.opts.BackplaneBuffer {
		if b.refused == 0 {
			h.opts.logEvent(slog.LevelWarn, "Backplane buffer full: broadcasts reach this server's members only until it drains",
				slog.Int("messages", len(b.out)), slog.Int("bytes", b.outBytes))
		}
		b.refused++
		return ErrBackplaneFull
	}
	b.out = append(b.out, m)
	b.outBytes += len(m.Data)
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

// publishLoop hands queued messages to the backplane, in batches, in
// order; a batch's bytes stay counted until Publish returns.
func (b *bridge[T]) publishLoop() {
	h := b.h
	defer h.wg.Done()
	var batch []Message
	for {
		b.outMu.Lock()
		batch = append(batch[:0], b.out[:min(len(b.out), publishBatch)]...)
		b.outMu.Unlock()
		if len(batch) == 0 {
			select {
			case <-h.ctx.Done():
				return
			case <-b.wake:
				continue
			}
		}
		failed, err := b.bp.Publish(h.ctx, batch)
		if err != nil && h.ctx.Err() != nil {
			return
		}
		failed = min(max(failed, 0), len(batch))
		if err != nil && failed == 0 {
			failed = len(batch)
		}
		if failed > 0 {
			h.publishFailures.Add(int64(failed))
			h.opts.logEvent(slog.LevelError, "Publish failed",
				slog.Int("failed", failed), slog.Int("messages", len(batch)), slog.String("error", err.Error()))
		}
		h.published.Add(int64(len(batch) - failed))
		b.sent(batch)
	}
}

// sent takes batch, the oldest waiting messages, off the queue.
func (b *bridge[T]) sent(batch []Message) {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	n := 0
	for i := range batch {
		n += len(batch[i].Data)
		b.out[i] = Message{}
	}
	b.out = b.out[len(batch):]
	if len(b.out) == 0 {
		b.out = nil // a burst's array is not kept
	}
	b.outBytes -= n
	if b.refused > 0 && b.outBytes <= b.h.opts.BackplaneBuffer/2 {
		b.h.opts.logEvent(slog.LevelInfo, "Backplane buffer has room again", slog.Int64("refused", int64(b.refused)))
		b.refused = 0
	}
}

// receive delivers a message from the backplane to the local members,
// unless it is this server's own or a duplicate; a gap in its publisher's
// sequence is counted and logged.
func (b *bridge[T]) receive(room string, msg []byte) {
	h := b.h
	e, err := parseEnvelope(msg)
	if err != nil {
		b.malformedMessage(room, err)
		return
	}
	if e.node == h.node {
		return // delivered locally when it was broadcast
	}
	h.mu.RLock()
	_, local := h.rooms[room]
	h.mu.RUnlock()
	if !local {
		return // the room's last member left; its unsubscription is on its way
	}
	b.noteLag(e)
	if !b.fresh(room, e, false) {
		return
	}
	v, err := h.codec.payload(e.body)
	if err != nil {
		b.malformedMessage(room, err)
		return
	}
	var frame []byte
	if h.codec.elem != nil {
		frame = bytes.Clone(e.body) // the publisher's encoding: the frame itself
	}
	h.deliver(room, h.codec.newParcel(v, frame), nil, e.to)
}

// malformedMessage counts a backplane message this server cannot read (a
// foreign format, an envelope version before h1, a payload that does not
// decode as T), and logs it at the 1st, 2nd, 4th... so that a server of
// another, incompatible version in the room is loud without flooding.
func (b *bridge[T]) malformedMessage(room string, err error) {
	h := b.h
	n := h.malformed.Add(1)
	if n&(n-1) == 0 {
		h.opts.logEvent(slog.LevelError, "Bad backplane message", slog.String("room", room),
			slog.String("error", err.Error()), slog.Int64("malformed", n))
	}
}

// noteLag records the time another server's message took to arrive.
func (b *bridge[T]) noteLag(e envelope) {
	h := b.h
	if lag := time.Now().UnixNano() - e.sentAt; lag >= 0 {
		h.lag.Store(lag)
		for {
			max := h.maxLag.Load()
			if lag <= max || h.maxLag.CompareAndSwap(max, lag) {
				break
			}
		}
	}
}

// fresh checks a message against its publisher's sequence: a duplicate
// is dropped; for another server's, a gap is counted and logged and the
// message counted received.
func (b *bridge[T]) fresh(room string, e envelope, own bool) bool {
	h := b.h
	b.seenMu.Lock()
	pubs := b.seen[room]
	if pubs == nil {
		pubs = make(map[string]uint64)
		b.seen[room] = pubs
	}
	last, known := pubs[e.node]
	if known && e.seq <= last {
		b.seenMu.Unlock()
		h.duplicates.Add(1)
		return false
	}
	pubs[e.node] = e.seq
	b.seenMu.Unlock()
	if own {
		return true
	}
	if known && e.seq > last+1 {
		missed := e.seq - last - 1
		h.lost.Add(int64(missed))
		h.opts.logEvent(slog.LevelWarn, "Missed backplane messages", slog.String("room", room),
			slog.Int64("missed", int64(missed)), slog.String("server", e.node))
	}
	h.received.Add(1)
	return true
}
