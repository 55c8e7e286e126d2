// Package hub keeps rooms of WebSocket connections made with
// github.com/go-macaron/sockets and broadcasts to them.
//
// A member joins a room with the channels the middleware injected into its
// handler, and leaves when its done channel fires (or when it calls Leave).
// Broadcasting never waits for a member: each member has a bounded queue,
// drained into its sender by a goroutine of its own, and a member whose queue
// is full is handled by the hub's Policy (drop its oldest queued value, or
// disconnect it with 1008), counted and logged.
//
// Rooms live in memory. With a Backplane (the Redis one is in the nested
// module github.com/go-macaron/sockets/hub/redis), every broadcast is also
// published to the other servers, which deliver it to their own members, so
// a room spans servers. Each message reaches each member once: a server
// delivers its own broadcasts locally and ignores them when the backplane
// echoes them back.
package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"sort"
	"sync"
	"sync/atomic"
)

// Policy says what happens to a member whose queue is full.
type Policy int

const (
	// DropOldest drops the member's oldest queued value to make room.
	DropOldest Policy = iota
	// Disconnect closes the member's connection with 1008 (policy
	// violation) and removes it from its room.
	Disconnect
)

// ClosePolicyViolation is the close code a member is disconnected with
// under the Disconnect policy.
const ClosePolicyViolation = 1008

// Backplane carries broadcasts between servers.
type Backplane interface {
	// Publish sends msg to every server subscribed, this one included.
	Publish(ctx context.Context, msg []byte) error
	// Run calls deliver with every message published, until ctx is done,
	// resubscribing by itself when the connection to the backplane fails.
	Run(ctx context.Context, deliver func(msg []byte))
}

// Options configures a Hub. Zero fields take their defaults.
type Options struct {
	// QueueSize is each member's queue capacity. Default: 64.
	QueueSize int
	// Policy applies to a member whose queue is full. Default: DropOldest.
	Policy Policy
	// Logger receives a line per dropped value or disconnected member and
	// per failed publish. Default: standard error with the prefix "[hub] ".
	Logger *log.Logger
	// Backplane, when set, spans rooms across servers.
	Backplane Backplane
}

// Stats counts what the policy did and what the backplane failed.
type Stats struct {
	Dropped         int64 // values dropped from full queues
	Disconnected    int64 // members disconnected for a full queue
	PublishFailures int64 // broadcasts the backplane could not carry
}

// Hub holds rooms of members whose connections carry values of type T: the
// type of the injected channels (string, []byte or *V for JSON(V{})).
type Hub[T any] struct {
	opts Options
	node string // this server's id on the backplane

	mu    sync.RWMutex
	rooms map[string]map[*Member[T]]struct{}

	dropped, disconnected, publishFailures atomic.Int64

	outbox chan []byte // envelopes waiting to be published

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// publishQueue bounds the envelopes waiting for the backplane: when it is
// slow or down, broadcasts beyond it are not published (and are counted).
const publishQueue = 1024

// New returns a hub. With a backplane it subscribes at once; Close stops it.
func New[T any](opts Options) *Hub[T] {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 64
	}
	if opts.Logger == nil {
		opts.Logger = log.New(os.Stderr, "[hub] ", log.LstdFlags)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	h := &Hub[T]{opts: opts, node: hex.EncodeToString(id[:]), rooms: make(map[string]map[*Member[T]]struct{})}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if opts.Backplane != nil {
		h.outbox = make(chan []byte, publishQueue)
		h.wg.Add(2)
		go func() {
			defer h.wg.Done()
			opts.Backplane.Run(h.ctx, h.receive)
		}()
		go h.publishLoop()
	}
	return h
}

// Member is one connection in one room.
type Member[T any] struct {
	// Name identifies the member in Members.
	Name string

	hub        *Hub[T]
	room       string
	queue      chan T
	sender     chan<- T
	disconnect chan<- int
	done       <-chan bool
	left       chan struct{}
	once       sync.Once
	drops      atomic.Int64
	kicked     atomic.Bool // the Disconnect policy has dealt with it
}

// Join adds a connection to room under name, with the channels the
// middleware injected: values broadcast to the room go to sender; the
// member leaves when done fires; disconnect is used by the Disconnect
// policy.
func (h *Hub[T]) Join(room, name string, sender chan<- T, disconnect chan<- int, done <-chan bool) *Member[T] {
	m := &Member[T]{Name: name, hub: h, room: room, queue: make(chan T, h.opts.QueueSize),
		sender: sender, disconnect: disconnect, done: done, left: make(chan struct{})}
	h.mu.Lock()
	members, ok := h.rooms[room]
	if !ok {
		members = make(map[*Member[T]]struct{})
		h.rooms[room] = members
	}
	members[m] = struct{}{}
	h.mu.Unlock()
	h.wg.Add(1)
	go m.forward()
	return m
}

// forward drains the member's queue into its sender, until the member
// leaves or its connection is done.
func (m *Member[T]) forward() {
	defer m.hub.wg.Done()
	for {
		select {
		case v := <-m.queue:
			select {
			case m.sender <- v:
			case <-m.done:
				m.Leave()
				return
			case <-m.left:
				return
			}
		case <-m.done:
			m.Leave()
			return
		case <-m.left:
			return
		}
	}
}

// Leave removes the member from its room. It is safe to call more than once.
func (m *Member[T]) Leave() {
	m.once.Do(func() {
		h := m.hub
		h.mu.Lock()
		delete(h.rooms[m.room], m)
		if len(h.rooms[m.room]) == 0 {
			delete(h.rooms, m.room)
		}
		h.mu.Unlock()
		close(m.left)
	})
}

// Members lists the names of room's members on this server, sorted.
func (h *Hub[T]) Members(room string) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	names := make([]string, 0, len(h.rooms[room]))
	for m := range h.rooms[room] {
		names = append(names, m.Name)
	}
	sort.Strings(names)
	return names
}

// Broadcast sends v to every member of room, on every server.
func (h *Hub[T]) Broadcast(room string, v T) { h.broadcast(room, v, nil) }

// BroadcastOthers sends v to every member of room but except (usually the
// member that sent it), on every server.
func (h *Hub[T]) BroadcastOthers(room string, v T, except *Member[T]) { h.broadcast(room, v, except) }

// envelope is what travels over the backplane.
type envelope struct {
	Node    string          `json:"n"`
	Room    string          `json:"r"`
	Payload json.RawMessage `json:"p"`
}

// broadcast delivers v to the local members at once and queues it for the
// backplane, so that a slow or absent backplane never holds up the caller.
func (h *Hub[T]) broadcast(room string, v T, except *Member[T]) {
	h.deliver(room, v, except)
	if h.opts.Backplane == nil {
		return
	}
	msg, err := h.encode(room, v)
	if err == nil {
		select {
		case h.outbox <- msg:
			return
		default:
			err = fmt.Errorf("%d broadcasts already wait for the backplane", publishQueue)
		}
	}
	h.publishFailures.Add(1)
	h.opts.Logger.Printf("publish to room %q: %v", room, err)
}

func (h *Hub[T]) encode(room string, v T) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	msg, err := json.Marshal(envelope{Node: h.node, Room: room, Payload: payload})
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return msg, nil
}

// publishLoop hands queued envelopes to the backplane, one at a time.
func (h *Hub[T]) publishLoop() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case msg := <-h.outbox:
			if err := h.opts.Backplane.Publish(h.ctx, msg); err != nil && h.ctx.Err() == nil {
				h.publishFailures.Add(1)
				h.opts.Logger.Printf("publish: %v", err)
			}
		}
	}
}

// receive delivers a message from another server to the local members.
func (h *Hub[T]) receive(msg []byte) {
	var env envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		h.opts.Logger.Printf("backplane message: %v", err)
		return
	}
	if env.Node == h.node {
		return // delivered locally when it was broadcast
	}
	var v T
	if err := json.Unmarshal(env.Payload, &v); err != nil {
		h.opts.Logger.Printf("backplane message for room %q: %v", env.Room, err)
		return
	}
	h.deliver(env.Room, v, nil)
}

// deliver queues v for every local member of room but except, applying the
// policy to members whose queue is full. It never blocks.
func (h *Hub[T]) deliver(room string, v T, except *Member[T]) {
	h.mu.RLock()
	var full []*Member[T]
	for m := range h.rooms[room] {
		if m == except || m.offer(v) {
			continue
		}
		full = append(full, m)
	}
	h.mu.RUnlock()
	for _, m := range full {
		h.overflow(m, v)
	}
}

// offer queues v if there is room.
func (m *Member[T]) offer(v T) bool {
	select {
	case m.queue <- v:
		return true
	default:
		return false
	}
}

// overflow applies the policy to a member whose queue was full.
func (h *Hub[T]) overflow(m *Member[T], v T) {
	switch h.opts.Policy {
	case Disconnect:
		// Concurrent broadcasts may all find its queue full: the first
		// deals with it, once.
		if !m.kicked.CompareAndSwap(false, true) {
			return
		}
		h.disconnected.Add(1)
		h.opts.Logger.Printf("room %q: member %q cannot keep up; disconnecting it with %d", m.room, m.Name, ClosePolicyViolation)
		select {
		case m.disconnect <- ClosePolicyViolation:
		default: // a close code is already pending
		}
		m.Leave()
	default:
		h.dropped.Add(1)
		// Log the 1st, 2nd, 4th, 8th... drop of a member: a member that
		// stays behind cannot flood the log.
		if n := m.drops.Add(1); n&(n-1) == 0 {
			h.opts.Logger.Printf("room %q: member %q cannot keep up; dropped its oldest message (%d so far)", m.room, m.Name, n)
		}
		for !m.offer(v) {
			select {
			case <-m.queue:
			default:
			}
		}
	}
}

// Stats returns the hub's counters.
func (h *Hub[T]) Stats() Stats {
	return Stats{Dropped: h.dropped.Load(), Disconnected: h.disconnected.Load(), PublishFailures: h.publishFailures.Load()}
}

// Close removes every member, stops the backplane subscription and waits for
// the hub's goroutines.
func (h *Hub[T]) Close() {
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
	h.wg.Wait()
}
