package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// group is one bucket's subscription (all rooms' for a single Redis in
// pub/sub mode): one connection, one reader goroutine.
type group struct {
	b *Backplane

	mu   sync.Mutex
	want map[string]string // rooms to hear -> last stream id read ("" until known, or in pub/sub mode)
	ps   *goredis.PubSub   // the live subscription, in pub/sub mode
	wake chan struct{}     // the room set changed
	// since is when each room whose stream position is not known yet was
	// subscribed (Durable mode): its stream is read from that moment.
	since map[string]time.Time
	// ours counts, per room, the unsubscriptions this server sent on ps
	// and Redis has not confirmed yet: their confirmation is no loss,
	// even when the room is wanted again meanwhile (emptied, refilled).
	ours map[string]int
}

// apply subscribes to and unsubscribes from the changed rooms, in one
// command each way when the subscription is live; otherwise the reader
// subscribes to the whole set when it (re)connects.
func (g *group) apply(ctx context.Context, changes map[string]change) {
	b := g.b
	var add, drop []string
	g.mu.Lock()
	defer g.mu.Unlock()
	for room, c := range changes {
		_, have := g.want[room]
		switch {
		case c.want && !have:
			g.want[room] = ""
			if b.opts.Durable {
				g.since[room] = c.at // startIDs reads the stream from here
			}
			add = append(add, b.key(room, ""))
		case !c.want && have:
			delete(g.want, room)
			delete(g.since, room)
			drop = append(drop, b.key(room, ""))
		}
	}
	select {
	case g.wake <- struct{}{}:
	default:
	}
	if g.ps == nil || b.opts.Durable {
		return
	}
	// Errors here show on the reader's next receive, which reconnects.
	if len(add) > 0 {
		if b.cluster != nil {
			_ = g.ps.SSubscribe(ctx, add...)
		} else {
			_ = g.ps.Subscribe(ctx, add...)
		}
	}
	if len(drop) > 0 { // never empty: that would mean all channels
		for _, ch := range drop {
			if room, ok := b.roomOf(ch); ok {
				g.ours[room]++
			}
		}
		if b.cluster != nil {
			_ = g.ps.SUnsubscribe(ctx, drop...)
		} else {
			_ = g.ps.Unsubscribe(ctx, drop...)
		}
	}
}

// channels lists the group's rooms' channel names.
func (g *group) channels() []string {
	names := make([]string, 0, len(g.want))
	for room := range g.want {
		names = append(names, g.b.key(room, ""))
	}
	return names
}

// waitRooms waits until the group has rooms; it reports whether ctx is
// live.
func (g *group) waitRooms(ctx context.Context) bool {
	for {
		g.mu.Lock()
		n := len(g.want)
		g.mu.Unlock()
		if n > 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-g.wake:
		}
	}
}

// readChannels subscribes to the group's rooms and delivers their
// messages; when the connection fails, it subscribes afresh (on a
// cluster, with the slots reloaded: on the new master after a failover).
// It manages reconnection itself, because go-redis reconnects a sharded
// subscription to a random node.
func (g *group) readChannels(ctx context.Context, deliver func(room string, msg []byte)) {
	b := g.b
	for attempt := 0; ; attempt++ {
		if !g.waitRooms(ctx) {
			return
		}
		g.mu.Lock()
		names := g.channels()
		var ps *goredis.PubSub
		if b.cluster != nil {
			ps = b.cluster.SSubscribe(ctx, names...)
		} else {
			ps = b.rdb.Subscribe(ctx, names...)
		}
		g.ps, g.ours = ps, make(map[string]int)
		g.mu.Unlock()
		err := g.receive(ctx, ps, deliver, &attempt)
		g.mu.Lock()
		g.ps = nil
		g.mu.Unlock()
		_ = ps.Close()
		if ctx.Err() != nil {
			return
		}
		if attempt == 0 {
			// Once per outage; the subscription's return says how many
			// tries it took.
			b.opts.logEvent(slog.LevelWarn, "Subscription lost: resubscribing until Redis answers", slog.String("error", err.Error()))
			b.wentDown()
		}
		b.retries.Add(1)
		b.reload(ctx)
		if !sleep(ctx, backoff(attempt)) {
			return
		}
	}
}

// receive delivers what ps receives until it fails.
func (g *group) receive(ctx context.Context, ps *goredis.PubSub, deliver func(room string, msg []byte), attempt *int) error {
	b := g.b
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.opts.HealthCheck)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				if err := ps.Ping(ctx); err != nil {
					return fmt.Errorf("ping: %w", err)
				}
				continue
			}
			return err
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			room, ok := b.roomOf(m.Channel)
			if !ok {
				continue
			}
			switch m.Kind {
			case "subscribe", "ssubscribe":
				if *attempt > 0 {
					b.opts.logEvent(slog.LevelInfo, "Subscription restored", slog.Int("retries", *attempt))
					b.cameBack()
				}
				*attempt = 0
				if b.opts.OnSubscribe != nil {
					b.opts.OnSubscribe(room)
				}
			case "unsubscribe", "sunsubscribe":
				g.mu.Lock()
				_, wanted := g.want[room]
				mine := g.ours[room] > 0
				if mine {
					g.ours[room]--
				}
				g.mu.Unlock()
				if wanted && !mine {
					return fmt.Errorf("room %q: %w", room, errUnsubscribed)
				}
			}
		case *goredis.Message:
			if room, ok := b.roomOf(m.Channel); ok {
				deliver(room, []byte(m.Payload))
			}
		case *goredis.Pong:
		}
	}
}

// readStreams reads the group's rooms' streams from the last id seen
// (for a room just subscribed, from its stream's last entry then), so
// that nothing published while the connection was down is missed.
func (g *group) readStreams(ctx context.Context, deliver func(room, id string, msg []byte)) {
	b := g.b
	for attempt := 0; ctx.Err() == nil; {
		if !g.waitRooms(ctx) {
			return
		}
		if err := g.startIDs(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			attempt = g.failed(ctx, attempt, err)
			continue
		}
		g.mu.Lock()
		streams := make([]string, 0, 2*len(g.want))
		rooms := make([]string, 0, len(g.want))
		for room, id := range g.want {
			// A room subscribed since startIDs has no start yet: the
			// next round reads it.
			if id != "" {
				rooms = append(rooms, room)
				streams = append(streams, b.key(room, ""))
			}
		}
		for _, room := range rooms {
			streams = append(streams, g.want[room])
		}
		g.mu.Unlock()
		if len(rooms) == 0 {
			continue
		}
		res, err := b.rdb.XRead(ctx, &goredis.XReadArgs{Streams: streams, Count: 512, Block: b.opts.PollInterval}).Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			if ctx.Err() != nil {
				return
			}
			attempt = g.failed(ctx, attempt, err)
			continue
		}
		if attempt > 0 {
			b.opts.logEvent(slog.LevelInfo, "Reading streams again", slog.Int("retries", attempt))
			b.cameBack()
			attempt = 0
		}
		if err != nil {
			continue // nothing new within PollInterval
		}
		for _, s := range res {
			room, ok := b.roomOf(s.Stream)
			if !ok {
				continue
			}
			for _, e := range s.Messages {
				if data, ok := e.Values["m"].(string); ok {
					deliver(room, e.ID, []byte(data))
				}
				g.mu.Lock()
				if _, still := g.want[room]; still {
					g.want[room] = e.ID
				}
				g.mu.Unlock()
			}
		}
	}
}

// startIDs finds where to start reading each room just subscribed: at
// the moment it was subscribed (the member's Join), on Redis's clock, which
// stream ids count in. Redis's TIME is read once; the time since each
// subscription, measured here after the answer on this server's monotonic
// clock, is at least the time from the subscription to when Redis read its
// clock, so the start is never after the Join (at most a round trip
// before it), whatever the two machines' clocks say.
func (g *group) startIDs(ctx context.Context) error {
	g.mu.Lock()
	var fresh []string
	for room, id := range g.want {
		if id == "" {
			fresh = append(fresh, room)
		}
	}
	g.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	// TIME through a script on the rooms' own key: on a cluster, the
	// shard that holds their streams answers.
	res, err := g.b.rdb.Eval(ctx, "return redis.call('TIME')", []string{g.b.key(fresh[0], "")}).Slice()
	if err != nil {
		return fmt.Errorf("read Redis's clock: %w", err)
	}
	now, err := redisTime(res)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, room := range fresh {
		if cur, ok := g.want[room]; !ok || cur != "" {
			continue
		}
		ms := now.Add(-time.Since(g.since[room])).UnixMilli() - 1 // ids of that millisecond included
		g.want[room] = strconv.FormatInt(max(ms, 0), 10) + "-0"
		delete(g.since, room)
	}
	if g.b.opts.OnSubscribe != nil {
		for _, room := range fresh {
			g.b.opts.OnSubscribe(room)
		}
	}
	return nil
}

// redisTime reads TIME's answer: seconds and microseconds, as strings.
func redisTime(res []any) (time.Time, error) {
	if len(res) != 2 {
		return time.Time{}, fmt.Errorf("redis TIME answered %v", res)
	}
	var parts [2]int64
	for i, v := range res {
		s, _ := v.(string)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("redis TIME answered %v", res)
		}
		parts[i] = n
	}
	return time.Unix(parts[0], parts[1]*1000), nil
}

// failed logs the first failure of a run of them (the end of the run is
// logged with its count) and waits before the next try.
func (g *group) failed(ctx context.Context, attempt int, err error) int {
	if attempt == 0 {
		g.b.opts.logEvent(slog.LevelWarn, "Reading streams failed: retrying until Redis answers", slog.String("error", err.Error()))
		g.b.wentDown()
	}
	g.b.retries.Add(1)
	g.b.reload(ctx)
	sleep(ctx, backoff(attempt))
	return attempt + 1
}
