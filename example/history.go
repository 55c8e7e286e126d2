package main

import (
	"context"
	"encoding/json"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// historySize is how many of a room's last messages a member sees when it
// joins.
const historySize = 50

// historyKept is how many of each room's broadcasts (messages, joins and
// leaves) the hub keeps for pages that reconnect, without Redis.
const historyKept = 500

// history keeps the last messages of each room in Redis, shared by every
// server of the room (redisHistory), for members who join later. The
// server that relays a message from its member adds it, once. Without
// Redis the hub keeps the history (hub.Options.History), and a page that
// reconnects resumes from its last position.
type history interface {
	add(ctx context.Context, room string, m Message)
	last(ctx context.Context, room string) []Message
}

// redisHistory keeps each room's last messages in a Redis list, trimmed to
// historySize and forgotten a day after its last message. While Redis does
// not answer (within a second), a message is not remembered and a joiner
// sees no history: the chat goes on without it.
type redisHistory struct {
	rdb *goredis.Client
}

const historyTTL = 24 * time.Hour

func historyKey(room string) string { return "chat:history:" + room }

func (h redisHistory) add(ctx context.Context, room string, m Message) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	key := historyKey(room)
	_, _ = h.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.RPush(ctx, key, b)
		p.LTrim(ctx, key, -historySize, -1)
		p.Expire(ctx, key, historyTTL)
		return nil
	})
}

func (h redisHistory) last(ctx context.Context, room string) []Message {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	raw, err := h.rdb.LRange(ctx, historyKey(room), 0, -1).Result()
	if err != nil {
		return nil
	}
	msgs := make([]Message, 0, len(raw))
	for _, s := range raw {
		var m Message
		if json.Unmarshal([]byte(s), &m) == nil {
			msgs = append(msgs, m)
		}
	}
	return msgs
}
