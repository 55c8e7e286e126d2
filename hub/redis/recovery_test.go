package redis

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/go-macaron/sockets/hub"
)

// streamHub is a hub with a history on a Durable backplane at addr: its
// broadcasts carry their stream position as a prefix ("pos text").
func streamHub(t *testing.T, addr string, o Options) *hub.Hub[string] {
	t.Helper()
	return streamHubOn(t, goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1}), o)
}

// streamHubOn is streamHub on rdb (closed with the test).
func streamHubOn(t *testing.T, rdb goredis.UniversalClient, o Options) *hub.Hub[string] {
	t.Helper()
	t.Cleanup(func() { _ = rdb.Close() })
	o.Durable = true
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond // a new room is read sooner
	}
	if o.Logger == nil {
		o.Logger = log.New(io.Discard, "", 0)
	}
	h := hub.New[string](hub.Options{Backplane: New(rdb, o), History: 1, Logger: log.New(io.Discard, "", 0)})
	h.SetStamp(func(v string, pos hub.Position) string { return pos.String() + " " + v })
	t.Cleanup(h.Close)
	return h
}

// member is the channels of one room member.
type recMember struct{ sender chan string }

func join(t *testing.T, h *hub.Hub[string], room, from string) (*hub.Member[string], hub.Recovery, *recMember) {
	t.Helper()
	m := &recMember{sender: make(chan string, 4096)}
	mem, rec, err := h.JoinFrom(room, "", m.sender, make(chan int, 1), make(chan bool, 3), from)
	if err != nil {
		t.Fatal(err)
	}
	return mem, rec, m
}

// next reads a member's next value: its position and its text.
func (m *recMember) next(t *testing.T) (pos, text string) {
	t.Helper()
	select {
	case v := <-m.sender:
		pos, text, _ = strings.Cut(v, " ")
		return pos, text
	case <-time.After(20 * time.Second):
		t.Fatal("nothing delivered")
		return "", ""
	}
}

// TestStreamOneOrderAcrossServers: two servers broadcast to one room at
// once; a member on each sees every broadcast once, both in the same
// order (the stream's), each with its position.
func TestStreamOneOrderAcrossServers(t *testing.T) {
	r := startRedis(t)
	a, b := streamHub(t, r.addr(), Options{}), streamHub(t, r.addr(), Options{})
	ma, _, ca := join(t, a, "room", "")
	mb, _, cb := join(t, b, "room", "")
	defer ma.Leave()
	defer mb.Leave()
	const each = 100
	var wg sync.WaitGroup
	for i, h := range []*hub.Hub[string]{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				h.Broadcast("room", fmt.Sprintf("s%d-%d", i, j))
			}
		}()
	}
	wg.Wait()
	var seqs [2][]string
	for i, c := range []*recMember{ca, cb} {
		for range 2 * each {
			pos, text := c.next(t)
			if _, err := hub.ParsePosition(pos); err != nil {
				t.Fatalf("%q carries no position", pos+" "+text)
			}
			seqs[i] = append(seqs[i], pos+" "+text)
		}
	}
	if strings.Join(seqs[0], ",") != strings.Join(seqs[1], ",") {
		t.Fatal("the two servers' members saw the room in different orders")
	}
}

// TestStreamRecoveryOnAnotherServer: a member that leaves one server at a
// random moment of a burst from both, and rejoins another from the last
// position it saw, gets every later broadcast exactly once, in order, and
// is told it recovered; 100 runs.
func TestStreamRecoveryOnAnotherServer(t *testing.T) {
	r := startRedis(t)
	a, b := streamHub(t, r.addr(), Options{}), streamHub(t, r.addr(), Options{})
	recoverOnAnotherServer(t, a, b, 100)
}

// TestStreamRecoveryOnCluster: the same over a Redis Cluster of three
// masters (each room's stream and epoch in one slot), 30 runs: rooms
// spread over the masters.
func TestStreamRecoveryOnCluster(t *testing.T) {
	c := startCluster(t)
	client := func() goredis.UniversalClient {
		return goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.addrs(), MaxRetries: -1})
	}
	a, b := streamHubOn(t, client(), Options{}), streamHubOn(t, client(), Options{})
	recoverOnAnotherServer(t, a, b, 30)
}

// recoverOnAnotherServer runs the test of TestStreamRecoveryOnAnotherServer
// runs times, a room each.
func recoverOnAnotherServer(t *testing.T, a, b *hub.Hub[string], runs int) {
	for run := range runs {
		room := fmt.Sprint("run", run)
		// The room's order, as a witness on server b sees it.
		witness, _, wc := join(t, b, room, "")
		m, _, c := join(t, a, room, "")
		const burst = 40
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range burst {
				h := a
				if i%2 == 1 {
					h = b
				}
				h.Broadcast(room, fmt.Sprint(i))
			}
		}()
		var want []string
		for range burst {
			_, text := wc.next(t)
			want = append(want, text)
		}
		cut := rand.IntN(burst)
		var got []string
		last := ""
		for range cut {
			pos, text := c.next(t)
			got, last = append(got, text), pos
		}
		m.Leave()
		<-done
		from := last
		if from == "" { // it saw nothing: it rejoins from nowhere, and misses nothing only by luck
			witness.Leave()
			continue
		}
		m2, rec, c2 := join(t, b, room, from)
		if !rec.Recovered {
			t.Fatalf("run %d: not recovered from %q: %s", run, from, rec.Reason)
		}
		for len(got) < burst {
			_, text := c2.next(t)
			got = append(got, text)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("run %d (cut at %d): got %v, want the room's %v", run, cut, got, want)
		}
		select {
		case v := <-c2.sender:
			t.Fatalf("run %d: one more value: %q", run, v)
		default:
		}
		m2.Leave()
		witness.Leave()
	}
}

// TestStreamRecoveryRefusals: a position the stream no longer holds
// (trimmed by StreamLength), one of another epoch, garbage: not recovered,
// nothing replayed.
func TestStreamRecoveryRefusals(t *testing.T) {
	r := startRedis(t)
	h := streamHub(t, r.addr(), Options{StreamLength: 10})
	keep, _, c := join(t, h, "room", "")
	defer keep.Leave()
	h.Broadcast("room", "first")
	first, _ := c.next(t)
	for i := range 500 { // far past StreamLength: the first is trimmed
		h.Broadcast("room", fmt.Sprint(i))
	}
	for deadline := time.Now().Add(20 * time.Second); h.Stats().Published < 501; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%+v: the burst was not published", h.Stats())
		}
	}
	p, _ := hub.ParsePosition(first)
	other := hub.Position{Epoch: "0123456789abcdef", Offset: p.Offset, Seq: p.Seq, InStream: true}
	for _, tc := range []struct{ from, reason string }{
		{first, hub.ReasonTooOld},
		{other.String(), hub.ReasonEpoch},
		{"garbage", hub.ReasonMalformed},
		{"0123456789abcdef-5", hub.ReasonMalformed}, // a memory hub's position
	} {
		m, rec, got := join(t, h, "room", tc.from)
		if rec.Recovered || rec.Reason != tc.reason || len(got.sender) != 0 {
			t.Errorf("from %q: %+v with %d values, want %s", tc.from, rec, len(got.sender), tc.reason)
		}
		m.Leave()
	}
}

// TestStreamRecoveryAcrossRestartAndOutage: with persistence, Redis
// restarted keeps the stream and its epoch: a member rejoining from a
// position of before the restart recovers what was said since; while Redis
// is away, a rejoin is answered ReasonUnavailable at once, never a replay
// with a hole called complete.
func TestStreamRecoveryAcrossRestartAndOutage(t *testing.T) {
	dir := t.TempDir()
	r := startRedisWith(t, freePort(t), "--appendonly", "yes", "--appendfsync", "always", "--dir", dir)
	h := streamHub(t, r.addr(), Options{RetryFor: time.Minute})
	m, _, c := join(t, h, "room", "")
	h.Broadcast("room", "before")
	last, _ := c.next(t)
	m.Leave()

	r.stop()
	_, rec, got := join(t, h, "room", last)
	if rec.Recovered || rec.Reason != hub.ReasonUnavailable || len(got.sender) != 0 {
		t.Fatalf("while Redis is away: %+v, %d values; want %s", rec, len(got.sender), hub.ReasonUnavailable)
	}
	r.start()

	h.Broadcast("room", "after") // published once Redis is back (Durable retries)
	for deadline := time.Now().Add(30 * time.Second); h.Stats().Published < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%+v: not published after the restart", h.Stats())
		}
	}
	m2, rec, c2 := join(t, h, "room", last)
	defer m2.Leave()
	if !rec.Recovered {
		t.Fatalf("after the restart: %+v, want recovered (the stream and its epoch persisted)", rec)
	}
	if _, text := c2.next(t); text != "after" {
		t.Fatalf("replayed %q, want \"after\"", text)
	}
}

// TestStreamRecent: a server that never saw the room's broadcasts lists
// its last ones from the stream, each stamped with its position and
// direct messages left out, with the position of the stream's end; a
// member joining from it recovers, nothing replayed, and gets what
// follows.
func TestStreamRecent(t *testing.T) {
	r := startRedis(t)
	a, b := streamHub(t, r.addr(), Options{}), streamHub(t, r.addr(), Options{})
	keep, _, c := join(t, a, "room", "")
	defer keep.Leave()
	for i := range 5 {
		a.Broadcast("room", fmt.Sprint(i))
		if i == 3 {
			a.SendTo("room", "nobody", "direct")
		}
	}
	var want []string
	for range 5 {
		pos, text := c.next(t)
		want = append(want, pos+" "+text)
	}
	got, end := b.Recent("room", 3)
	if strings.Join(got, ",") != strings.Join(want[2:], ",") {
		t.Fatalf("Recent: %v, want %v", got, want[2:])
	}
	if endPos, _, _ := strings.Cut(want[4], " "); end.String() != endPos {
		t.Fatalf("Recent's position %s, want the last broadcast's, %s", end, endPos)
	}
	m, rec, c2 := join(t, b, "room", end.String())
	defer m.Leave()
	if !rec.Recovered || rec.Replayed != 0 {
		t.Fatalf("joining from Recent's position: %+v, want recovered with nothing replayed", rec)
	}
	a.Broadcast("room", "next")
	if _, text := c2.next(t); text != "next" {
		t.Fatalf("after Recent's position: %q, want \"next\"", text)
	}
	if none, pos := b.Recent("empty", 3); len(none) != 0 || pos.Epoch == "" || !pos.InStream {
		t.Fatalf("an empty room: %v at %+v, want nothing at the start of its stream", none, pos)
	}
}

// TestStreamEpochAfterDataLost: Redis restarted without its data, or
// flushed under a live connection, has lost the room's history: a member
// rejoining from a position of before, on the server that stamped it
// (which knew the old epoch) or another, is told ReasonEpoch and replayed
// nothing. After a restart (the connection was lost) what is broadcast
// since carries the new epoch at once; after a flush under a live
// connection, from the first recovery check on (before it, a position
// stamped with the old epoch is refused too: a reload, never a hole).
func TestStreamEpochAfterDataLost(t *testing.T) {
	r := startRedis(t) // no persistence
	rdb := goredis.NewClient(&goredis.Options{Addr: r.addr()})
	defer rdb.Close()
	a, b := streamHub(t, r.addr(), Options{RetryFor: time.Minute}), streamHub(t, r.addr(), Options{RetryFor: time.Minute})
	keep, _, c := join(t, a, "room", "")
	defer keep.Leave()
	a.Broadcast("room", "before")
	before, _ := c.next(t)
	old, _ := hub.ParsePosition(before)

	for _, lose := range []string{"restart", "flush"} {
		if lose == "restart" {
			r.stop()
			r.start()
		} else {
			// A stream made again after a flush numbers its entries from
			// Redis's clock: one made in the millisecond of the last entry
			// read could sort before it, unseen by the readers (documented).
			// The flush here comes in a later millisecond, as any real one
			// does.
			last, _ := hub.ParsePosition(before)
			for {
				now, err := rdb.Time(context.Background()).Result()
				if err != nil {
					t.Fatal(err)
				}
				if uint64(now.UnixMilli()) > last.Offset {
					break
				}
			}
			if err := rdb.FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
		}
		a.Broadcast("room", "after "+lose)
		for {
			pos, text := c.next(t)
			if text != "after "+lose {
				continue // the first lap's broadcast, held until Redis was back
			}
			if p, _ := hub.ParsePosition(pos); p.Epoch == old.Epoch && lose == "restart" {
				t.Fatalf("after the %s a broadcast carries the old epoch: %s", lose, pos)
			}
			break
		}
		for _, h := range []*hub.Hub[string]{a, b} {
			// Right after a restart a pooled connection may still be the
			// old one: the first ask can fail (ReasonUnavailable, a fair
			// answer then); asked again, the answer is the epoch's.
			for try := 0; ; try++ {
				m, rec, got := join(t, h, "room", before)
				m.Leave()
				if rec.Reason == hub.ReasonUnavailable && try < 50 {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if rec.Recovered || rec.Reason != hub.ReasonEpoch || len(got.sender) != 0 {
					t.Errorf("after the %s, from %s: %+v with %d values, want %s", lose, before, rec, len(got.sender), hub.ReasonEpoch)
				}
				break
			}
		}
		a.Broadcast("room", "checked "+lose)
		for {
			pos, text := c.next(t)
			if text != "checked "+lose {
				continue
			}
			if p, _ := hub.ParsePosition(pos); p.Epoch == old.Epoch {
				t.Fatalf("after the %s and a recovery check, a broadcast carries the old epoch: %s", lose, pos)
			}
			before = pos
			old, _ = hub.ParsePosition(pos)
			break
		}
	}
}
