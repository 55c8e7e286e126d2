package redis

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// The rooms layout of the multi-server tests: numRooms rooms over
// numNodes server processes; room r has members on one server (r mod
// numNodes), and every third room on a second one too, so that each server
// holds a different subset and many rooms have no member on most servers.
// Each server has membersPerNode connections, each a member of a share of
// that server's rooms.
const (
	numNodes       = 4
	numRooms       = 1000
	membersPerNode = 4
)

func roomName(r int) string { return "room-" + strconv.Itoa(r) }

// homes lists the servers room r has members on.
func homes(r int) []int {
	a := r % numNodes
	if r%3 == 0 {
		return []int{a, (a + 1 + (r/3)%(numNodes-1)) % numNodes}
	}
	return []int{a}
}

// layout is the servers, their member connections, and which connection
// of which server is a member of each room.
type layout struct {
	nodes     []*nodeProc
	conns     [][]*member       // [node][i]
	roomsOf   []map[string]bool // node -> its rooms
	membersOf map[int][]*member // room -> its members
	publisher map[int]*member   // room -> the member that publishes to it
}

func newLayout(t *testing.T, redisAddrs []string, cluster, durable bool) *layout {
	t.Helper()
	l := &layout{membersOf: map[int][]*member{}, publisher: map[int]*member{}}
	joins := make([][][]string, numNodes) // [node][conn] rooms
	for n := range numNodes {
		l.nodes = append(l.nodes, startNodeProc(t, "s"+strconv.Itoa(n), redisAddrs, cluster, durable))
		joins[n] = make([][]string, membersPerNode)
		l.roomsOf = append(l.roomsOf, map[string]bool{})
	}
	for r := range numRooms {
		for _, n := range homes(r) {
			i := (r / numNodes) % membersPerNode
			joins[n][i] = append(joins[n][i], roomName(r))
			l.roomsOf[n][roomName(r)] = true
		}
	}
	l.conns = make([][]*member, numNodes)
	byName := map[string]*member{}
	for n := range numNodes {
		for i := range membersPerNode {
			m := dialMember(t, l.nodes[n], fmt.Sprintf("s%dm%d", n, i), joins[n][i])
			l.conns[n] = append(l.conns[n], m)
			byName[m.name] = m
		}
	}
	for r := range numRooms {
		hs := homes(r)
		i := (r / numNodes) % membersPerNode
		for _, n := range hs {
			l.membersOf[r] = append(l.membersOf[r], l.conns[n][i])
		}
		// The last home publishes: with two homes, its messages cross
		// Redis to reach the other.
		l.publisher[r] = l.conns[hs[len(hs)-1]][i]
	}
	for n, node := range l.nodes {
		node.waitSubscribed(t, sortedKeys(l.roomsOf[n]))
	}
	return l
}

// round has each room's publisher send k messages "tag-0".."tag-(k-1)".
func (l *layout) round(t *testing.T, tag string, k int) {
	t.Helper()
	for i := range k {
		for r := range numRooms {
			l.publisher[r].send(t, roomName(r), fmt.Sprintf("%s-%d", tag, i))
		}
	}
}

// expect waits until every member of every room received the k messages
// of round tag, then checks each arrived exactly once and in order.
func (l *layout) expect(t *testing.T, tag string, k int) {
	t.Helper()
	deadline := time.Now().Add(6 * wait)
	for r := range numRooms {
		pub := l.publisher[r].name
		for _, m := range l.membersOf[r] {
			for {
				got := filterTag(m.texts(roomName(r), pub), tag)
				if len(got) >= k {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s received %d of %s's %d %q messages in %s", m.name, len(got), pub, k, tag, roomName(r))
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	for r := range numRooms {
		pub := l.publisher[r].name
		for _, m := range l.membersOf[r] {
			got := filterTag(m.texts(roomName(r), pub), tag)
			for i, text := range got {
				if want := fmt.Sprintf("%s-%d", tag, i); text != want || i >= k {
					t.Fatalf("%s in %s from %s: message %d is %q, want %q (each once, in publish order): %v",
						m.name, roomName(r), pub, i, text, want, got)
				}
			}
		}
	}
}

// filterTag keeps the texts of round tag.
func filterTag(texts []string, tag string) []string {
	var out []string
	for _, s := range texts {
		if len(s) > len(tag) && s[:len(tag)] == tag && s[len(tag)] == '-' {
			out = append(out, s)
		}
	}
	return out
}

// checkHeard asserts that no server received a message of a room it has
// no member in, and that every server received messages.
func (l *layout) checkHeard(t *testing.T) {
	t.Helper()
	for n, node := range l.nodes {
		st := node.stats(t)
		if len(st.Heard) == 0 {
			t.Fatalf("server %s heard nothing", node.name)
		}
		for room := range st.Heard {
			if !l.roomsOf[n][room] {
				t.Fatalf("server %s received a message of %s, where it has no member", node.name, room)
			}
		}
		t.Logf("server %s: %d rooms, heard %d of them; hub %+v", node.name, len(l.roomsOf[n]), len(st.Heard), st.Hub)
	}
}

// TestServersHearOnlyTheirRooms: four server processes on one Redis, a
// thousand rooms spread over them.
func TestServersHearOnlyTheirRooms(t *testing.T) {
	r := startRedis(t)
	l := newLayout(t, []string{r.addr()}, false, false)
	l.round(t, "a", 3)
	l.expect(t, "a", 3)
	l.checkHeard(t)
}

// probe publishes a round of probes to every room until every member has
// received one: delivery works again everywhere.
func (l *layout) probe(t *testing.T, tag string) {
	t.Helper()
	deadline := time.Now().Add(12 * wait)
	for attempt := 0; ; attempt++ {
		l.round(t, fmt.Sprintf("%s%d", tag, attempt), 1)
		settle := time.Now().Add(time.Second)
		for {
			missing := 0
			for r := range numRooms {
				pub := l.publisher[r].name
				for _, m := range l.membersOf[r] {
					if len(filterPrefix(m.texts(roomName(r), pub), tag)) == 0 {
						missing++
					}
				}
			}
			if missing == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d members still receive nothing of their room", missing)
			}
			if time.Now().After(settle) {
				break // publish another round: the last may have gone to a dead shard
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func filterPrefix(texts []string, prefix string) []string {
	var out []string
	for _, s := range texts {
		if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
			out = append(out, s)
		}
	}
	return out
}

// TestClusterFailover: the same four servers and thousand rooms over a
// Redis Cluster of three masters (sharded pub/sub); one master is killed
// while messages flow. Delivery resumes after the failover, and every
// message a member missed is counted by the servers (a gap in its
// publisher's sequence, or a failed publish): none is lost silently.
func TestClusterFailover(t *testing.T) {
	c := startCluster(t)
	l := newLayout(t, c.addrs(), true, false)
	l.round(t, "a", 2)
	l.expect(t, "a", 2)
	l.checkHeard(t)

	// Messages flow while a master dies and its replica takes over.
	stop := make(chan struct{})
	published := make(chan int)
	go l.flow(stop, published)
	time.Sleep(300 * time.Millisecond) // let some rounds go before the kill
	victim := c.master(t)
	t.Logf("killing master %s", victim.addr())
	victim.stop()
	c.waitFailedOver(t, victim.addr())
	t.Log("the cluster failed over")
	l.probe(t, "p")
	close(stop)
	rounds := <-published
	l.round(t, "z", 2)
	l.expect(t, "z", 2)

	// What flowed across the failover: each member got a subsequence of
	// d-0..d-(rounds-1), in order, without duplicates; the rest is counted.
	missing := 0
	for r := range numRooms {
		pub := l.publisher[r].name
		for _, m := range l.membersOf[r] {
			got := filterTag(m.texts(roomName(r), pub), "d")
			last := -1
			for _, s := range got {
				i, err := strconv.Atoi(s[2:])
				if err != nil || i <= last {
					t.Fatalf("%s in %s: %q after d-%d: out of order or twice", m.name, roomName(r), s, last)
				}
				last = i
			}
			missing += rounds - len(got)
		}
	}
	var lost, failed int64
	for _, node := range l.nodes {
		st := node.stats(t).Hub
		lost += st.Lost
		failed += st.PublishFailures
	}
	t.Logf("%d rounds of %d messages across the failover: %d deliveries missed; servers counted %d lost, %d failed publishes",
		rounds, numRooms, missing, lost, failed)
	if int64(missing) > lost+failed {
		t.Fatalf("%d deliveries missed but only %d counted (%d lost + %d failed publishes)", missing, lost+failed, lost, failed)
	}
	l.checkHeard(t)
}

// flow publishes rounds "d-0", "d-1"... to every room until stop is
// closed, and then sends how many rounds it published.
func (l *layout) flow(stop <-chan struct{}, published chan<- int) {
	n := 0
	defer func() { published <- n }()
	for {
		select {
		case <-stop:
			return
		default:
		}
		for r := range numRooms {
			if err := l.publisher[r].write(roomName(r), "d-"+strconv.Itoa(n)); err != nil {
				return
			}
		}
		n++
		time.Sleep(50 * time.Millisecond) // pacing: about 20 rounds a second
	}
}

// TestDurableAcrossRedisRestart: in Durable mode (a stream per room),
// redis-server is killed and restarted while messages flow: every member
// receives every message exactly once, in order, and no server counts a
// loss. (In pub/sub mode the same test fails: what was published while
// Redis was down never arrives.)
func TestDurableAcrossRedisRestart(t *testing.T) {
	dir := t.TempDir()
	r := startRedisWith(t, freePort(t), "--appendonly", "yes", "--appendfsync", "always", "--dir", dir)
	l := newLayout(t, []string{r.addr()}, false, true)
	l.round(t, "a", 2)
	l.expect(t, "a", 2)

	stop := make(chan struct{})
	published := make(chan int)
	go l.flow(stop, published)
	time.Sleep(300 * time.Millisecond) // let some rounds go before the restart
	r.stop()
	t.Log("redis-server killed")
	time.Sleep(500 * time.Millisecond) // messages published while it is down
	r.start()
	t.Log("redis-server restarted")
	l.probe(t, "p")
	close(stop)
	rounds := <-published
	l.expect(t, "d", rounds)
	l.round(t, "z", 2)
	l.expect(t, "z", 2)
	var dups int64
	var maxLag time.Duration
	for _, node := range l.nodes {
		st := node.stats(t).Hub
		if st.Lost != 0 || st.PublishFailures != 0 {
			t.Fatalf("server %s: %+v", node.name, st)
		}
		dups += st.Duplicates
		maxLag = max(maxLag, st.MaxBackplaneLag)
	}
	t.Logf("%d rounds of %d messages across the restart, each delivered once (%d duplicates suppressed; the longest wait %v)",
		rounds, numRooms, dups, maxLag)
	l.checkHeard(t)
}
