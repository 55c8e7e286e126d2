// Package redis is a Redis pub/sub backplane for
// github.com/go-macaron/sockets/hub: every server publishes its rooms'
// broadcasts to one Redis channel and delivers what the other servers
// publish there to its own members, so a room spans servers.
//
// It lives in a module of its own so that go-redis stays out of the
// sockets library's go.mod.
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	h := hub.New[*Message](hub.Options{Backplane: redis.New(rdb, redis.Options{})})
//	defer h.Close()
//
// When Redis is down, local rooms keep working: publishes fail (the hub
// logs and counts them) and the subscription comes back by itself once
// Redis does. What was published meanwhile is lost: pub/sub keeps no
// history.
package redis

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Options configures a Backplane. Zero fields take their defaults.
type Options struct {
	// Channel is the Redis channel the servers share. Default:
	// "sockets:hub".
	Channel string
	// HealthCheck is how often an idle subscription is pinged; a failed
	// ping makes it reconnect and resubscribe. Default: 1 s.
	HealthCheck time.Duration
	// Logger receives a line per (re)subscription. Default: standard error
	// with the prefix "[hub/redis] ".
	Logger *log.Logger
	// OnSubscribe, when set, is called each time the subscription is
	// (re)established.
	OnSubscribe func()
}

// Backplane is a hub.Backplane over Redis pub/sub.
type Backplane struct {
	rdb  *goredis.Client
	opts Options
}

// New returns a backplane publishing and subscribing through rdb.
func New(rdb *goredis.Client, opts Options) *Backplane {
	if opts.Channel == "" {
		opts.Channel = "sockets:hub"
	}
	if opts.HealthCheck <= 0 {
		opts.HealthCheck = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = log.New(os.Stderr, "[hub/redis] ", log.LstdFlags)
	}
	return &Backplane{rdb: rdb, opts: opts}
}

// Publish sends msg to every subscribed server.
func (b *Backplane) Publish(ctx context.Context, msg []byte) error {
	if err := b.rdb.Publish(ctx, b.opts.Channel, msg).Err(); err != nil {
		return fmt.Errorf("redis publish to %s: %w", b.opts.Channel, err)
	}
	return nil
}

// Run subscribes and calls deliver with each message until ctx is done.
// go-redis reconnects and resubscribes by itself when Redis goes away and
// comes back.
func (b *Backplane) Run(ctx context.Context, deliver func(msg []byte)) {
	ps := b.rdb.Subscribe(ctx, b.opts.Channel)
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(goredis.WithChannelHealthCheckInterval(b.opts.HealthCheck))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *goredis.Subscription:
				if m.Kind == "subscribe" {
					b.opts.Logger.Printf("subscribed to %s", m.Channel)
					if b.opts.OnSubscribe != nil {
						b.opts.OnSubscribe()
					}
				}
			case *goredis.Message:
				deliver([]byte(m.Payload))
			}
		}
	}
}
