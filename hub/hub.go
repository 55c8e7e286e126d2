// Package hub keeps rooms of WebSocket connections made with
// github.com/go-macaron/sockets and broadcasts to them.
//
// A member joins a room with its connection's channels and leaves when its
// done channel fires (or it calls Leave). Broadcasting never waits: a value
// goes into the member's sender when it has room, else into its backlog. A
// member costs no goroutine: one drains a backlog only while there is one,
// and one watches the done channels of up to 64 members. A member that
// keeps reading drains a burst and is never punished for it; one that stays
// behind (more than QueueSize values waiting, for Patience, or MaxBacklog
// at once) meets the Policy: its oldest values dropped, or a 1008 close.
//
// With a Backplane (the Redis one is the nested module
// github.com/go-macaron/sockets/hub/redis), rooms span servers and each
// server hears only its own rooms. Each message reaches each member once:
// a server delivers its own broadcasts locally and ignores their echo, and
// the publisher's sequence number per room lets receivers drop duplicates
// and count what they missed (Stats.Lost).
//
// With Options.History (a hub without a backplane), each room keeps its
// last broadcasts, each with a Position the application puts in its own
// messages (Positioned, SetStamp), and a member that drops and rejoins
// from the last position it saw (JoinConnFrom) gets what it missed exactly
// once, in order, or is told why it cannot (Recovery).
package hub

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-macaron/sockets/internal/park"
)

// Policy says what happens to a member that stays behind.
type Policy int

const (
	// DropOldest drops the member's oldest waiting values, down to
	// QueueSize, each time a value arrives while it is behind.
	DropOldest Policy = iota
	// Disconnect closes the member's connection with 1008 (policy
	// violation) and removes it from its room.
	Disconnect
)

// String names the policy.
func (p Policy) String() string {
	if p == Disconnect {
		return "Disconnect"
	}
	return "DropOldest"
}

// ErrClosed is what Join returns once the hub's Close has begun.
var ErrClosed = errors.New("hub: closed")

// ClosePolicyViolation is the close code a member is disconnected with
// under the Disconnect policy.
const ClosePolicyViolation = 1008

// Options configures a Hub. Zero fields take their defaults.
type Options struct {
	// QueueSize is how many values may wait for a member (beyond its
	// sender's buffer) before it counts as behind. Default: 64.
	QueueSize int
	// Patience is how long a member may stay behind before the Policy
	// applies to it. Default: 5 s.
	Patience time.Duration
	// MaxBacklog is how many values may wait for a member at most: the
	// Policy applies at once beyond it, which bounds a member's memory.
	// Default: 4096 (at least QueueSize).
	MaxBacklog int
	// Policy applies to a member that stays behind. Default: DropOldest.
	Policy Policy
	// Logger receives a line per member the policy acted on (for
	// DropOldest at its 1st, 2nd, 4th... drop), failed publish or missed
	// backplane message. Default: standard error, prefix "[hub] ".
	Logger *log.Logger
	// Slog, when set, takes those lines instead, as records with a
	// constant message and attributes.
	Slog *slog.Logger
	// Backplane, when set, spans rooms across servers.
	Backplane Backplane
	// BackplaneBuffer bounds the bytes of the broadcasts waiting, in order,
	// for the backplane while it is down or slow (envelopes and those being
	// published included). A broadcast that finds it full reaches this
	// server's members only: Broadcast returns ErrBackplaneFull, it counts
	// in PublishFailures, and the other servers count it in Lost. Default:
	// 64 MiB (a 30-second outage at 4000 broadcasts/s of 200 bytes: 31 MB).
	BackplaneBuffer int
	// Server names this server in Presence. Default: the host name and
	// the process id.
	Server string

	// History is how many of each room's last broadcasts the hub keeps,
	// numbered, so that a member that drops and rejoins gets what it
	// missed (JoinConnFrom) and a late joiner the room's last messages
	// (Recent). 0 keeps none. With a Streams backplane (Redis, Durable)
	// any value above 0 turns it on and the room's stream is the history
	// (bounded by the backplane's StreamLength, Recent not served); with a
	// pub/sub backplane, JoinConnFrom answers that it cannot recover.
	History int
	// HistoryTTL is how long a kept broadcast stays; a room whose every
	// kept broadcast has expired forgets its history (and its epoch).
	// Default: 2 minutes.
	HistoryTTL time.Duration
}

// Stats is the hub's figures at one moment (Stats walks the members for
// Backlog: one lock each). Rooms and Members are gauges;
// the others are counters that only grow, as Prometheus counters do.
type Stats struct {
	Rooms   int64 // rooms with a member on this server
	Members int64 // members on this server
	// Deliveries counts values handed to members (into their sender or
	// their backlog).
	Deliveries int64
	Dropped    int64 // values dropped by DropOldest
	// Disconnected counts members disconnected by Disconnect: one per
	// member, however many broadcasts found it behind.
	Disconnected int64
	// Published counts broadcasts the backplane carried;
	// PublishFailures those it could not (refused by a full
	// BackplaneBuffer, failed by the backplane, or not encodable), which
	// are lost to the other servers.
	Published, PublishFailures int64
	// Received counts messages from other servers, Duplicates those
	// suppressed, Lost those known missed from gaps in a publisher's
	// sequence (a subscription cut, or the publisher's PublishFailures).
	Received, Duplicates, Lost int64
	// Malformed counts backplane messages this server could not read: of
	// a foreign format or an envelope version it does not know (a server
	// of an incompatible version in the room), or a payload that does not
	// decode. They are not delivered.
	Malformed int64
	// BackplaneLag is the time between a publish and its arrival here,
	// for the last message received (across servers, it includes their
	// clock difference); MaxBackplaneLag the largest seen.
	BackplaneLag, MaxBackplaneLag time.Duration
	// Backlog is how many values wait in members' backlogs now, beyond
	// their senders (the slow consumers' share).
	Backlog int64
	// BackplaneBuffered is the bytes of broadcasts waiting for the
	// backplane now, of at most BackplaneBuffer (Options).
	BackplaneBuffered, BackplaneBuffer int64
	// Backplane is the backplane's connection, when it reports one
	// (StateReporter: the Redis backplane does); nil otherwise.
	Backplane *BackplaneState
}

// Hub holds rooms of members whose connections carry values of type T: the
// type of the injected channels (string, []byte or *V for JSON(V{})).
type Hub[T any] struct {
	opts  Options
	node  string // this server's id on the backplane
	codec codec[T]

	mu     sync.RWMutex
	rooms  map[string]map[*Member[T]]struct{}
	closed bool // Close has begun: Join adds nobody

	watchers park.Pairs[bool, struct{}] // wait on the members' done channels

	histMu    sync.Mutex
	histories map[string]*roomHistory[T] // with Options.History
	sweep     *time.Timer                // forgets expired histories
	stamp     func(T, Position) T        // SetStamp

	deliveries, dropped, disconnected       atomic.Int64
	published, publishFailures              atomic.Int64
	received, duplicates, lost, lag, maxLag atomic.Int64
	malformed                               atomic.Int64
	members                                 atomic.Int64
	bp                                      *bridge[T] // nil without a backplane
	ctx                                     context.Context
	cancel                                  context.CancelFunc
	wg                                      sync.WaitGroup
}

// New returns a hub. With a backplane it starts it at once; Close stops it.
func New[T any](opts Options) *Hub[T] {
	// A field not above zero takes its default.
	opts.QueueSize = cmp.Or(max(opts.QueueSize, 0), 64)
	opts.Patience = cmp.Or(max(opts.Patience, 0), 5*time.Second)
	opts.MaxBacklog = max(cmp.Or(max(opts.MaxBacklog, 0), 4096), opts.QueueSize)
	opts.BackplaneBuffer = cmp.Or(max(opts.BackplaneBuffer, 0), 64<<20)
	opts.Logger = cmp.Or(opts.Logger, log.New(os.Stderr, "[hub] ", log.LstdFlags))
	opts.History = max(opts.History, 0)
	opts.HistoryTTL = cmp.Or(max(opts.HistoryTTL, 0), 2*time.Minute)
	var id [8]byte
	_, _ = rand.Read(id[:])
	if opts.Server == "" {
		host, _ := os.Hostname()
		opts.Server = host + ":" + strconv.Itoa(os.Getpid())
	}
	h := &Hub[T]{opts: opts, node: hex.EncodeToString(id[:]), codec: newCodec[T](),
		rooms: make(map[string]map[*Member[T]]struct{})}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if opts.Backplane != nil {
		h.bp = newBridge(h)
	}
	return h
}

// Server is this server's name in Presence (Options.Server).
func (h *Hub[T]) Server() string { return h.opts.Server }

// Members lists the names of room's members on this server, sorted.
func (h *Hub[T]) Members(room string) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	names := make([]string, 0, len(h.rooms[room]))
	for m := range h.rooms[room] {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

// Rooms lists the rooms with a member on this server, sorted.
func (h *Hub[T]) Rooms() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Sorted(maps.Keys(h.rooms))
}

// Broadcast sends v to every member of room, on every server, never
// waiting for a member or the backplane. It returns ErrBackplaneFull when v
// reached this server's members but not the backplane, or the error
// encoding v for the backplane.
//
// Members that joined with JoinConn receive v as it is now: a JSON pointer
// is encoded once, here, for all of them and the backplane; a byte slice
// is copied once. A member that joined with Join gets v itself, encoded
// when its connection takes it from the sender (so v must not change until
// then). A JSON value that is not a pointer is copied into each sender and
// encoded when taken: maps, slices and pointers in it are read then.
func (h *Hub[T]) Broadcast(room string, v T) error { return h.broadcast(room, v, nil, "") }

// BroadcastOthers sends v to every member of room but except (usually the
// member that sent it), on every server, as Broadcast does.
func (h *Hub[T]) BroadcastOthers(room string, v T, except *Member[T]) error {
	return h.broadcast(room, v, except, "")
}

// SendTo sends v to the members of room named name, on whichever server
// they are connected (on every one, if the name is there more than once),
// as Broadcast does.
func (h *Hub[T]) SendTo(room, name string, v T) error { return h.broadcast(room, v, nil, name) }

// BroadcastLocal sends v to this server's members of room only, at once:
// it is not published to the backplane, not kept in the room's history and
// carries no position. It is for what concerns this server alone, such as
// a notice that its backplane is unreachable: in Durable mode with a
// History, a Broadcast made then reaches no member, this server's
// included, until the backplane is back.
func (h *Hub[T]) BroadcastLocal(room string, v T) {
	h.deliver(room, h.codec.newParcel(v, nil), nil, "")
}

func (h *Hub[T]) broadcast(room string, v T, except *Member[T], to string) error {
	if h.opts.History > 0 && h.bp == nil && to == "" {
		h.broadcastKept(room, v, except)
		return nil
	}
	if h.bp != nil && h.bp.streams != nil && to == "" {
		// Delivered here too when it comes back from the room's stream,
		// in the stream's order, with its position.
		return h.bp.publishExcept(room, h.codec.newParcel(v, nil), "", except)
	}
	p := h.codec.newParcel(v, nil)
	h.deliver(room, p, except, to)
	if h.bp != nil {
		return h.bp.publish(room, p, to)
	}
	return nil
}

// broadcastKept numbers v, stamps it with its position, keeps it in the
// room's history and delivers it, all under the history's lock: every
// member sees the room's broadcasts in the order of their offsets, and a
// member rejoining (under the hub's write lock) sees each once.
func (h *Hub[T]) broadcastKept(room string, v T, except *Member[T]) {
	h.mu.RLock()
	r := h.history(room, true)
	r.mu.Lock()
	v = h.stamped(v, Position{Epoch: r.epoch, Offset: r.next})
	p := h.codec.newParcel(v, nil)
	r.add(p, time.Now(), h.opts.History, h.opts.HistoryTTL)
	acted, n := h.deliverLocked(room, p, except, "")
	r.mu.Unlock()
	h.mu.RUnlock()
	h.deliveries.Add(n)
	for _, m := range acted {
		m.kick()
	}
}

// deliver hands p to every local member of room but except (only to those
// named to, when to is set). It never blocks.
func (h *Hub[T]) deliver(room string, p *parcel[T], except *Member[T], to string) {
	h.mu.RLock()
	acted, n := h.deliverLocked(room, p, except, to)
	h.mu.RUnlock()
	h.deliveries.Add(n)
	for _, m := range acted {
		m.kick()
	}
}

// deliverLocked is deliver under h.mu: it returns the members to
// disconnect (outside the lock) and how many it handed p to.
func (h *Hub[T]) deliverLocked(room string, p *parcel[T], except *Member[T], to string) (acted []*Member[T], n int64) {
	for m := range h.rooms[room] {
		if m == except || (to != "" && m.Name != to) {
			continue
		}
		n++
		if m.offer(p) {
			acted = append(acted, m)
		}
	}
	return acted, n
}

// Stats returns the hub's figures now.
func (h *Hub[T]) Stats() Stats {
	var backlog int64
	h.mu.RLock()
	rooms := int64(len(h.rooms))
	for _, members := range h.rooms {
		for m := range members {
			m.mu.Lock()
			backlog += int64(len(m.backlog) - m.head)
			m.mu.Unlock()
		}
	}
	h.mu.RUnlock()
	st := Stats{
		Rooms: rooms, Members: h.members.Load(),
		Deliveries: h.deliveries.Load(), Dropped: h.dropped.Load(), Disconnected: h.disconnected.Load(),
		Published: h.published.Load(), PublishFailures: h.publishFailures.Load(),
		Received: h.received.Load(), Duplicates: h.duplicates.Load(), Lost: h.lost.Load(), Malformed: h.malformed.Load(),
		BackplaneLag: time.Duration(h.lag.Load()), MaxBackplaneLag: time.Duration(h.maxLag.Load()),
		Backlog: backlog,
	}
	if h.bp != nil {
		h.bp.outMu.Lock()
		st.BackplaneBuffered = int64(h.bp.outBytes)
		h.bp.outMu.Unlock()
		st.BackplaneBuffer = int64(h.opts.BackplaneBuffer)
		if r, ok := h.opts.Backplane.(StateReporter); ok {
			state := r.State()
			st.Backplane = &state
		}
	}
	return st
}

// Close removes every member, stops the backplane and waits for the hub's
// goroutines. It is safe to call concurrently with Join, Leave and
// Broadcast, and more than once; once it has begun, Join returns
// ErrClosed.
func (h *Hub[T]) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.mu.RLock()
	var all []*Member[T]
	for _, members := range h.rooms {
		for m := range members {
			all = append(all, m)
		}
	}
	h.mu.RUnlock()
	for _, m := range all {
		m.Leave()
	}
	h.cancel()
	h.histMu.Lock()
	if h.sweep != nil {
		h.sweep.Stop()
	}
	h.histMu.Unlock()
	h.wg.Wait()
	h.watchers.Wait()
}

// logEvent writes one event: to Slog as a record whose message is msg, a
// constant, with attrs; otherwise to Logger as one line, the message then
// each attribute as key=value.
func (o *Options) logEvent(level slog.Level, msg string, attrs ...slog.Attr) {
	if o.Slog != nil {
		o.Slog.LogAttrs(context.Background(), level, msg, attrs...)
		return
	}
	o.Logger.Print(textLine(msg, attrs))
}

// textLine is msg then each attribute as key=value.
func textLine(msg string, attrs []slog.Attr) string {
	var b strings.Builder
	b.WriteString(msg)
	for _, a := range attrs {
		b.WriteString(" " + a.String())
	}
	return b.String()
}
