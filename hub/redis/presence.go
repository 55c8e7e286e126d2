package redis

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-macaron/sockets/hub"
	goredis "github.com/redis/go-redis/v9"
)

// presence keeps this server's members in Redis: a sorted set per room
// (Prefix + "{bucket}" + room + ":members") whose entries are
// "server\nname", scored by the Unix millisecond at which they expire.
type presence struct {
	b *Backplane

	mu      sync.Mutex
	here    map[hub.Presence]map[string]int // member -> room -> count on this server
	added   map[presenceKey]bool            // changes not yet written: true to add, false to remove
	changed chan struct{}
}

type presenceKey struct {
	room string
	p    hub.Presence
}

func (pr *presence) init(b *Backplane) {
	pr.b = b
	pr.here = make(map[hub.Presence]map[string]int)
	pr.added = make(map[presenceKey]bool)
	pr.changed = make(chan struct{}, 1)
}

func entry(p hub.Presence) string { return p.Server + "\n" + p.Name }

// SetPresent records (present) or forgets a member of room on this server.
// It only notes the change; Run writes it at once, in batches.
func (b *Backplane) SetPresent(room string, p hub.Presence, present bool) {
	pr := &b.presence
	pr.mu.Lock()
	rooms := pr.here[p]
	if rooms == nil {
		rooms = make(map[string]int)
		pr.here[p] = rooms
	}
	k := presenceKey{room, p}
	if present {
		rooms[room]++
		if rooms[room] == 1 {
			pr.added[k] = true
		}
	} else if rooms[room] > 0 {
		rooms[room]--
		if rooms[room] == 0 {
			delete(rooms, room)
			if len(rooms) == 0 {
				delete(pr.here, p)
			}
			pr.added[k] = false
		}
	}
	pr.mu.Unlock()
	select {
	case pr.changed <- struct{}{}:
	default:
	}
}

// Present lists room's members on every server whose records have not
// expired.
func (b *Backplane) Present(ctx context.Context, room string) ([]hub.Presence, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	entries, err := b.rdb.ZRangeByScore(ctx, b.key(room, ":members"), &goredis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return nil, err
	}
	out := make([]hub.Presence, 0, len(entries))
	for _, e := range entries {
		server, name, ok := strings.Cut(e, "\n")
		if ok {
			out = append(out, hub.Presence{Name: name, Server: server})
		}
	}
	return out, nil
}

// run writes changes as they come and renews every record each TTL/3;
// when ctx is done it removes this server's records.
func (pr *presence) run(ctx context.Context) {
	b := pr.b
	ttl := b.opts.PresenceTTL
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// The hub removed every member before stopping: write that.
			final, cancel := context.WithTimeout(context.Background(), time.Second)
			pr.flush(final, false)
			cancel()
			return
		case <-pr.changed:
			pr.flush(ctx, false)
		case <-tick.C:
			pr.flush(ctx, true)
		}
	}
}

// flush writes the pending changes (all records, when renew is set) in
// one pipeline. What fails is written at the next renewal.
func (pr *presence) flush(ctx context.Context, renew bool) {
	b := pr.b
	pr.mu.Lock()
	changes := pr.added
	pr.added = make(map[presenceKey]bool)
	if renew {
		for p, rooms := range pr.here {
			for room := range rooms {
				changes[presenceKey{room, p}] = true
			}
		}
	}
	pr.mu.Unlock()
	if len(changes) == 0 {
		return
	}
	expires := float64(time.Now().Add(b.opts.PresenceTTL).UnixMilli())
	keep := 2 * b.opts.PresenceTTL
	_, err := b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for k, add := range changes {
			key := b.key(k.room, ":members")
			if add {
				p.ZAdd(ctx, key, goredis.Z{Score: expires, Member: entry(k.p)})
				p.Expire(ctx, key, keep)
			} else {
				p.ZRem(ctx, key, entry(k.p))
			}
		}
		if renew {
			// Trim the expired records (of servers that died) from the
			// rooms this server renews.
			now := "(" + strconv.FormatInt(time.Now().UnixMilli(), 10)
			trimmed := make(map[string]bool)
			for k := range changes {
				if key := b.key(k.room, ":members"); !trimmed[key] {
					trimmed[key] = true
					p.ZRemRangeByScore(ctx, key, "-inf", now)
				}
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		// Put the changes back; the next flush retries them.
		pr.mu.Lock()
		for k, add := range changes {
			if _, newer := pr.added[k]; !newer {
				pr.added[k] = add
			}
		}
		pr.mu.Unlock()
	}
}
