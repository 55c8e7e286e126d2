// Package redis is a Redis backplane for github.com/go-macaron/sockets/hub:
// each room has a channel of its own, a server subscribes to the channels
// of the rooms it has members in, and so hears only its own rooms.
//
// It lives in a module of its own so that go-redis stays out of the
// sockets library's go.mod.
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	h := hub.New[*Message](hub.Options{Backplane: redis.New(rdb, redis.Options{})})
//	defer h.Close()
//
// # Channels and buckets
//
// A room's channel is Prefix + "{" + bucket + "}" + room, where the bucket
// is a hash of the room modulo Buckets. The braces are a Redis Cluster hash
// tag: the rooms of one bucket live on one shard, so that a server needs one
// subscription connection per bucket it has rooms in (not one per room),
// and the buckets spread the rooms over the shards. With a
// *goredis.ClusterClient the backplane uses sharded pub/sub (SPUBLISH and
// SSUBSCRIBE, Redis 7): a room's traffic stays on the shard that owns it.
// With a *goredis.Client, one connection subscribes to all of a server's
// rooms.
//
// Subscription changes are batched: the hub notes them without waiting,
// and one goroutine sends them, many channels per command.
//
// # Failures
//
// When Redis (or a shard) is down, local rooms keep working: publishes
// fail (the hub logs and counts them) and the subscriptions come back by
// themselves, on the new master after a failover. In pub/sub mode what was
// published meanwhile is lost to the servers that were cut off; the hub
// counts it from the gaps in each publisher's sequence (hub.Stats.Lost).
// With Durable, each room is a Redis stream instead, read from the last id
// seen: a server that was cut off gets what it missed when it is back,
// publishes are retried for RetryFor, and the hub drops the duplicates a
// retry may make. Surviving a restart of Redis itself also needs Redis to
// persist (appendonly yes).
//
// # Presence
//
// Each server keeps its members in a sorted set per room, scored by an
// expiry time it renews every PresenceTTL/3: the members of a server that
// dies without leaving vanish within PresenceTTL.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-macaron/sockets/hub"
	goredis "github.com/redis/go-redis/v9"
)

// Options configures a Backplane. Zero fields take their defaults.
type Options struct {
	// Prefix starts every key and channel. Default: "sockets:hub:".
	Prefix string
	// Buckets is how many hash-tag buckets the rooms are spread over.
	// Default: 16. Every server of a deployment must use the same value.
	Buckets int
	// HealthCheck is how often an idle subscription is pinged; a failed
	// ping makes it reconnect and resubscribe. Default: 1 s.
	HealthCheck time.Duration
	// Logger receives one line when a subscription (or a Durable read)
	// fails, and one when it works again, with the count of retries in
	// between, however long Redis stays away. Default: standard error
	// with the prefix "[hub/redis] ".
	Logger *log.Logger
	// Slog, when set, takes those lines instead of Logger, as records
	// with a constant message and the error or the count of retries as
	// attributes, at Warn when Redis goes away and Info when it is back.
	Slog *slog.Logger
	// OnSubscribe, when set, is called each time Redis confirms the
	// subscription to a room (again after each reconnection); in Durable
	// mode, each time the position a room's stream is read from has been
	// found (nothing needs confirming for a stream).
	OnSubscribe func(room string)

	// Durable carries each room on a Redis stream instead of a pub/sub
	// channel: nothing published while a server was cut off is lost to
	// it, within the stream's retention.
	Durable bool
	// StreamLength bounds each room's stream (approximately, as XADD
	// MAXLEN ~ does): what a server cut off for longer than that many
	// messages misses is lost (and counted). Default: 10 000.
	StreamLength int64
	// RetryFor is how long a Durable publish is retried while Redis is
	// unreachable before its messages count as failed; the broadcasts
	// made meanwhile wait in the hub (hub.Options.BackplaneBuffer).
	// Default: 2 minutes.
	RetryFor time.Duration
	// PollInterval is how long a Durable read blocks waiting for new
	// entries; a room subscribed meanwhile starts being read after it.
	// Default: 200 ms.
	PollInterval time.Duration

	// PresenceTTL bounds how long the members of a server that stopped
	// renewing them stay listed: they vanish within PresenceTTL (between
	// two thirds of it and all of it, as the records are renewed every
	// third). Default: 15 s.
	PresenceTTL time.Duration
}

// Backplane is a hub.PresenceBackplane over Redis.
type Backplane struct {
	rdb     goredis.UniversalClient
	cluster *goredis.ClusterClient // nil for a single Redis
	opts    Options
	groups  []*group

	mu      sync.Mutex
	pending map[string]change // room -> the last change asked for, not yet applied
	changed chan struct{}

	presence presence

	// The connection's state (State): groups failing now, since when, and
	// the tries to reconnect.
	down      atomic.Int32
	downSince atomic.Int64 // unix nanoseconds; 0 while up
	retries   atomic.Int64
}

// State reports the backplane's connection: down while any group's
// subscription (or stream read) is failing, and the retries made since it
// started. It implements hub.StateReporter.
func (b *Backplane) State() hub.BackplaneState {
	s := hub.BackplaneState{Up: b.down.Load() == 0, Retries: b.retries.Load()}
	if ns := b.downSince.Load(); ns != 0 && !s.Up {
		s.DownSince = time.Unix(0, ns)
	}
	return s
}

// wentDown records a group's first failure of a run.
func (b *Backplane) wentDown() {
	if b.down.Add(1) == 1 {
		b.downSince.Store(time.Now().UnixNano())
	}
}

// cameBack records a group working again after failures.
func (b *Backplane) cameBack() {
	if b.down.Add(-1) == 0 {
		b.downSince.Store(0)
	}
}

// New returns a backplane publishing and subscribing through rdb: a
// *goredis.Client, or a *goredis.ClusterClient for sharded pub/sub.
func New(rdb goredis.UniversalClient, opts Options) *Backplane {
	if opts.Prefix == "" {
		opts.Prefix = "sockets:hub:"
	}
	if opts.Buckets <= 0 {
		opts.Buckets = 16
	}
	if opts.HealthCheck <= 0 {
		opts.HealthCheck = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = log.New(os.Stderr, "[hub/redis] ", log.LstdFlags)
	}
	if opts.StreamLength <= 0 {
		opts.StreamLength = 10000
	}
	if opts.RetryFor <= 0 {
		opts.RetryFor = 2 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.PresenceTTL <= 0 {
		opts.PresenceTTL = 15 * time.Second
	}
	b := &Backplane{rdb: rdb, opts: opts, pending: make(map[string]change), changed: make(chan struct{}, 1)}
	b.cluster, _ = rdb.(*goredis.ClusterClient)
	n := 1 // one subscription (or one XREAD) for a single Redis
	if b.cluster != nil {
		n = opts.Buckets // one per bucket, each on its shard
	}
	b.groups = make([]*group, n)
	for i := range b.groups {
		b.groups[i] = &group{b: b, want: make(map[string]string), since: make(map[string]time.Time), wake: make(chan struct{}, 1)}
	}
	b.presence.init(b)
	return b
}

var (
	_ hub.PresenceBackplane = (*Backplane)(nil)
	_ hub.Streams           = (*Backplane)(nil)
)

// bucket is room's hash-tag bucket.
func (b *Backplane) bucket(room string) int {
	f := fnv.New32a()
	_, _ = f.Write([]byte(room))
	return int(f.Sum32() % uint32(b.opts.Buckets))
}

// key is room's channel (or stream) name, with suffix.
func (b *Backplane) key(room, suffix string) string {
	return b.opts.Prefix + "{" + strconv.Itoa(b.bucket(room)) + "}" + room + suffix
}

// roomOf is the room of a channel or stream name made by key.
func (b *Backplane) roomOf(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, b.opts.Prefix+"{")
	if !ok {
		return "", false
	}
	_, room, ok := strings.Cut(rest, "}")
	return room, ok
}

func (b *Backplane) groupOf(room string) *group {
	if len(b.groups) == 1 {
		return b.groups[0]
	}
	return b.groups[b.bucket(room)]
}

// Subscribe notes that this server wants room's messages.
func (b *Backplane) Subscribe(room string) { b.note(room, true) }

// Unsubscribe notes that this server no longer wants room's messages.
func (b *Backplane) Unsubscribe(room string) { b.note(room, false) }

// change is a subscription asked for (want) or dropped, and when.
type change struct {
	want bool
	at   time.Time // with its monotonic reading: the moment of the join
}

func (b *Backplane) note(room string, want bool) {
	b.mu.Lock()
	b.pending[room] = change{want, time.Now()}
	b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// Run carries messages until ctx is done: it applies subscription changes
// in batches, runs a reader per bucket in use, and renews the presence
// records.
func (b *Backplane) Run(ctx context.Context, deliver func(room string, msg []byte)) {
	b.run(ctx, deliver, func(room, _ string, msg []byte) { deliver(room, msg) })
}

// RunStreams is Run with each message's stream entry id, in Durable mode
// (hub.Streams); on pub/sub it is Run, with empty ids.
func (b *Backplane) RunStreams(ctx context.Context, deliver func(room, id string, msg []byte)) {
	b.run(ctx, func(room string, msg []byte) { deliver(room, "", msg) }, deliver)
}

func (b *Backplane) run(ctx context.Context, deliver func(room string, msg []byte), deliverEntry func(room, id string, msg []byte)) {
	var wg sync.WaitGroup
	for _, g := range b.groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.opts.Durable {
				g.readStreams(ctx, deliverEntry)
			} else {
				g.readChannels(ctx, deliver)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.presence.run(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-b.changed:
		}
		b.mu.Lock()
		changes := b.pending
		b.pending = make(map[string]change)
		b.mu.Unlock()
		byGroup := make(map[*group]map[string]change)
		for room, c := range changes {
			g := b.groupOf(room)
			if byGroup[g] == nil {
				byGroup[g] = make(map[string]change)
			}
			byGroup[g][room] = c
		}
		for g, ch := range byGroup {
			g.apply(ctx, ch)
		}
	}
}

// Publish sends msgs in order: with PUBLISH (SPUBLISH on a cluster) in
// one pipeline, or, when Durable, with XADD, retried from the first that
// failed for RetryFor.
func (b *Backplane) Publish(ctx context.Context, msgs []hub.Message) (failed int, err error) {
	if !b.opts.Durable {
		cmds, err := b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, m := range msgs {
				if b.cluster != nil {
					p.SPublish(ctx, b.key(m.Room, ""), m.Data)
				} else {
					p.Publish(ctx, b.key(m.Room, ""), m.Data)
				}
			}
			return nil
		})
		if err == nil {
			return 0, nil
		}
		// On a cluster, the pipeline is split by shard: only those of the
		// failed shard failed.
		for _, c := range cmds {
			if c.Err() != nil {
				failed++
			}
		}
		return max(failed, 1), fmt.Errorf("redis publish: %w", err)
	}
	deadline := time.Now().Add(b.opts.RetryFor)
	for attempt := 0; ; attempt++ {
		cmds, err := b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, m := range msgs {
				p.XAdd(ctx, &goredis.XAddArgs{Stream: b.key(m.Room, ""), MaxLen: b.opts.StreamLength, Approx: true,
					Values: []any{"m", m.Data}})
			}
			return nil
		})
		if err == nil {
			return 0, nil
		}
		// Those before the first failure went in: retry from there (a
		// retried one that went in unseen is a duplicate the hub drops).
		for i, c := range cmds {
			if c.Err() != nil {
				msgs = msgs[i:]
				break
			}
		}
		if time.Now().After(deadline) {
			return len(msgs), fmt.Errorf("redis XADD of %d messages, retried for %v: %w", len(msgs), b.opts.RetryFor, err)
		}
		b.reload(ctx)
		if !sleep(ctx, backoff(attempt)) {
			return len(msgs), ctx.Err()
		}
	}
}

// reload refreshes a cluster client's view of the slots, after a failure
// that may be a failover.
func (b *Backplane) reload(ctx context.Context) {
	if b.cluster != nil {
		b.cluster.ReloadState(ctx)
	}
}

func backoff(attempt int) time.Duration {
	d := 20 * time.Millisecond << min(attempt, 5)
	return min(d, 500*time.Millisecond)
}

// sleep waits d, or less if ctx is done; it reports whether ctx is live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var errUnsubscribed = errors.New("redis ended a wanted subscription (slot moved?)")

// logEvent writes one event: to Slog as a record whose message is msg, a
// constant, with attrs; otherwise to Logger as one line, the level in the
// sockets package's words ([Warning], [Info]), the message, then each
// attribute as key=value.
func (o *Options) logEvent(level slog.Level, msg string, attrs ...slog.Attr) {
	if o.Slog != nil {
		o.Slog.LogAttrs(context.Background(), level, msg, attrs...)
		return
	}
	word := "[Info]"
	if level >= slog.LevelWarn {
		word = "[Warning]"
	}
	for _, a := range attrs {
		msg += " " + a.String()
	}
	o.Logger.Print(word + " " + msg)
}

// The backplane as a hub.Streams, in Durable mode: a room's stream is its
// history, shared by every server, and a hub with a History delivers in its
// order and recovers from it.

// Ordered reports whether rooms run on streams (Durable).
func (b *Backplane) Ordered() bool { return b.opts.Durable }

// epochKey is where room's stream epoch is kept: beside the stream (the
// same hash tag, so the same shard on a cluster), in a namespace no stream
// name can take.
func (b *Backplane) epochKey(room string) string {
	return b.opts.Prefix + "epoch:{" + strconv.Itoa(b.bucket(room)) + "}" + room
}

// Epoch returns room's stream epoch, made once by whichever server asks
// first (SET NX) and the same for every server after; when Redis loses it
// with the stream (a flush, a restart without persistence), a new one is
// made, and positions of the old one are not recovered.
func (b *Backplane) Epoch(ctx context.Context, room string) (string, error) {
	var r [8]byte
	_, _ = rand.Read(r[:])
	key := b.epochKey(room)
	if err := b.rdb.SetNX(ctx, key, hex.EncodeToString(r[:]), 0).Err(); err != nil {
		return "", fmt.Errorf("redis SET NX %s: %w", key, err)
	}
	e, err := b.rdb.Get(ctx, key).Result()
	if err != nil {
		return "", fmt.Errorf("redis GET %s: %w", key, err)
	}
	return e, nil
}

// Kept reports whether room's stream still holds every entry after id.
// Entries leave a stream from its head (MAXLEN trimming), so it does when
// nothing was ever removed from it (XINFO STREAM's entries-added is its
// length) or when its first entry is not after id. A stream that is gone
// (lost with its data, or never written) keeps nothing.
func (b *Backplane) Kept(ctx context.Context, room, id string) (bool, error) {
	info, err := b.rdb.XInfoStream(ctx, b.key(room, "")).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return id == "0-0", nil // a room that never said anything kept all of it
		}
		return false, fmt.Errorf("redis XINFO STREAM: %w", err)
	}
	if info.EntriesAdded == info.Length {
		return true, nil
	}
	if info.Length == 0 {
		return false, nil
	}
	first, err := parseID(info.FirstEntry.ID)
	if err != nil {
		return false, err
	}
	at, err := parseID(id)
	if err != nil {
		return false, err
	}
	return first[0] < at[0] || first[0] == at[0] && first[1] <= at[1], nil
}

// Tail returns room's last count entries, oldest first.
func (b *Backplane) Tail(ctx context.Context, room string, count int) ([]hub.StreamEntry, error) {
	res, err := b.rdb.XRevRangeN(ctx, b.key(room, ""), "+", "-", int64(count)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis XREVRANGE: %w", err)
	}
	out := make([]hub.StreamEntry, 0, len(res))
	for i := len(res) - 1; i >= 0; i-- {
		if data, ok := res[i].Values["m"].(string); ok {
			out = append(out, hub.StreamEntry{ID: res[i].ID, Data: []byte(data)})
		}
	}
	return out, nil
}

// parseID reads a stream entry id, "ms-seq".
func parseID(id string) ([2]uint64, error) {
	a, b, _ := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return [2]uint64{}, fmt.Errorf("stream entry id %q", id)
	}
	return [2]uint64{ms, seq}, nil
}

// Range returns up to count entries of room's stream after id.
func (b *Backplane) Range(ctx context.Context, room, after string, count int) ([]hub.StreamEntry, error) {
	res, err := b.rdb.XRangeN(ctx, b.key(room, ""), "("+after, "+", int64(count)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis XRANGE: %w", err)
	}
	out := make([]hub.StreamEntry, 0, len(res))
	for _, e := range res {
		if data, ok := e.Values["m"].(string); ok {
			out = append(out, hub.StreamEntry{ID: e.ID, Data: []byte(data)})
		}
	}
	return out, nil
}

// ReadFrom returns the id after which this server delivers room's entries
// live, once its reading of the room has started.
func (b *Backplane) ReadFrom(room string) (string, bool) {
	g := b.groupOf(room)
	g.mu.Lock()
	defer g.mu.Unlock()
	id := g.want[room]
	return id, id != ""
}
