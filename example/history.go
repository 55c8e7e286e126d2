package main

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// historySize is how many of a room's last messages a member sees when it
// joins.
const historySize = 50

// history keeps the last messages of each room, for members who join
// later: in this process (memoryHistory), or in Redis, shared by every
// server of the room (redisHistory). The server that relays a message from
// its member adds it, once.
type history interface {
	add(ctx context.Context, room string, m Message)
	last(ctx context.Context, room string) []Message
}

// maxHistoryRooms bounds the rooms a memoryHistory remembers: past it, the
// room written to longest ago is forgotten.
const maxHistoryRooms = 1024

// memoryHistory is the history of one server's rooms.
type memoryHistory struct {
	mu    sync.Mutex
	rooms map[string][]Message
	used  map[string]time.Time
}

func newMemoryHistory() *memoryHistory {
	return &memoryHistory{rooms: make(map[string][]Message), used: make(map[string]time.Time)}
}

func (h *memoryHistory) add(_ context.Context, room string, m Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.rooms[room]; !ok && len(h.rooms) >= maxHistoryRooms {
		oldest, at := "", time.Time{}
		for r, t := range h.used {
			if oldest == "" || t.Before(at) {
				oldest, at = r, t
			}
		}
		delete(h.rooms, oldest)
		delete(h.used, oldest)
	}
	msgs := append(h.rooms[room], m)
	if len(msgs) > historySize {
		msgs = append([]Message(nil), msgs[len(msgs)-historySize:]...)
	}
	h.rooms[room], h.used[room] = msgs, time.Now()
}

func (h *memoryHistory) last(_ context.Context, room string) []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Message(nil), h.rooms[room]...)
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
