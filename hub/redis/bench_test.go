package redis

import (
	"fmt"
	"io"
	"log"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-macaron/sockets/hub"
	goredis "github.com/redis/go-redis/v9"
)

type benchMsg struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// benchMembersPerRoom is how many members each room has, over all
// servers.
const benchMembersPerRoom = 64

// BenchmarkBroadcast measures broadcast deliveries per second and
// allocations per delivery, for JSON values: in memory (one server), and
// over one Redis and over a three-master cluster (two servers, each room's
// members split between them, every broadcast from the first), for 1, 4
// and 16 rooms per server. Members are channels drained as fast as they
// fill (no sockets: this is the hub's and the backplane's cost).
func BenchmarkBroadcast(b *testing.B) {
	parent := b // the servers live as long as the whole benchmark
	var cluster *redisCluster
	var single *redisServer
	for _, bp := range []string{"memory", "redis", "cluster"} {
		for _, rooms := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/rooms=%d", bp, rooms), func(b *testing.B) {
				var addrs []string
				switch bp {
				case "redis":
					if single == nil {
						single = startRedis(parent)
					}
					addrs = []string{single.addr()}
				case "cluster":
					if cluster == nil {
						cluster = startCluster(parent)
					}
					addrs = cluster.addrs()
				}
				benchBroadcast(b, bp, addrs, rooms)
			})
		}
	}
}

func benchBroadcast(b *testing.B, bp string, addrs []string, rooms int) {
	quiet := log.New(io.Discard, "", 0)
	// The servers' shared prefix: a fresh one per run.
	prefix := "bench:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	var subscribed atomic.Int64 // rooms the second server has subscribed to
	newHub := func(second bool) *hub.Hub[*benchMsg] {
		o := hub.Options{Logger: quiet, QueueSize: 1 << 12, MaxBacklog: 1 << 20}
		if bp == "memory" {
			return hub.New[*benchMsg](o)
		}
		var rdb goredis.UniversalClient
		if bp == "cluster" {
			rdb = goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs})
		} else {
			rdb = goredis.NewClient(&goredis.Options{Addr: addrs[0]})
		}
		b.Cleanup(func() { _ = rdb.Close() })
		o.Backplane = New(rdb, Options{Logger: quiet, Prefix: prefix,
			OnSubscribe: func(string) {
				if second {
					subscribed.Add(1)
				}
			}})
		return hub.New[*benchMsg](o)
	}
	servers := []*hub.Hub[*benchMsg]{newHub(false)}
	if bp != "memory" {
		servers = append(servers, newHub(true))
	}
	var delivered atomic.Int64
	var consumers sync.WaitGroup
	stop := make(chan struct{})
	for r := range rooms {
		for i := range benchMembersPerRoom {
			h := servers[i%len(servers)]
			sender := make(chan *benchMsg, 256)
			done := make(chan bool, 1)
			h.Join("room"+strconv.Itoa(r), "m"+strconv.Itoa(i), sender, make(chan int, 1), done)
			consumers.Add(1)
			go func() {
				defer consumers.Done()
				for {
					select {
					case <-sender:
						delivered.Add(1)
					case <-stop:
						return
					}
				}
			}()
		}
	}
	defer func() {
		for _, h := range servers {
			h.Close()
		}
		close(stop)
		consumers.Wait()
	}()
	// The second server subscribes with its first member: wait for it.
	await := func(want int64) {
		deadline := time.Now().Add(30 * time.Second)
		for delivered.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d deliveries; first server %+v; last %+v", delivered.Load(), want, servers[0].Stats(), servers[len(servers)-1].Stats())
			}
			runtime.Gosched()
		}
	}
	if len(servers) > 1 {
		deadline := time.Now().Add(30 * time.Second)
		for subscribed.Load() < int64(rooms) {
			if time.Now().After(deadline) {
				b.Fatal("the second server never subscribed")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	const window = 1024 // broadcasts in flight at most
	msg := &benchMsg{Type: "message", Text: "a chat line of an ordinary length, some sixty bytes"}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	base := delivered.Load()
	per := int64(benchMembersPerRoom)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if i >= window {
			await(base + int64(i-window)*per)
		}
		m := *msg // a value per broadcast, as a chat makes one per message
		servers[0].Broadcast("room"+strconv.Itoa(i%rooms), &m)
	}
	await(base + int64(b.N)*per)
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	deliveries := float64(int64(b.N) * per)
	b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/deliveries, "allocs/delivery")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/deliveries, "B/delivery")
}

// BenchmarkJoinLeave measures joins and leaves per second on a server with
// a Redis backplane and presence: each op is one member joining a room
// (the room's first, so it subscribes and records presence) and leaving it
// (unsubscribing and forgetting the presence record), over 1000 rooms. The
// hub never waits for Redis here: the backplane batches the changes.
func BenchmarkJoinLeave(b *testing.B) {
	r := startRedis(b)
	rdb := goredis.NewClient(&goredis.Options{Addr: r.addr()})
	defer rdb.Close()
	quiet := log.New(io.Discard, "", 0)
	h := hub.New[string](hub.Options{Logger: quiet, Backplane: New(rdb, Options{Logger: quiet})})
	defer h.Close()
	sender := make(chan string, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m, _ := h.Join("room"+strconv.Itoa(i%1000), "m", sender, make(chan int, 1), make(chan bool, 1))
		m.Leave()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "join+leave/s")
}

// BenchmarkPubSubJoinWindow measures, in pub/sub mode, the window after a
// room's first Join on a server during which what another server
// publishes is not heard yet: an op joins 100 rooms on one server and
// publishes one message to each, at once, from another; missed/room is the
// share of rooms whose message never arrived, and confirm-µs the mean time
// from Join to Redis's confirmation (OnSubscribe). Durable mode has no such
// window (TestDurableJoinThenPublish).
func BenchmarkPubSubJoinWindow(b *testing.B) {
	r := startRedis(b)
	quiet := log.New(io.Discard, "", 0)
	var confirmed sync.Map // room -> time.Time
	newHub := func(withConfirm bool) *hub.Hub[string] {
		rdb := goredis.NewClient(&goredis.Options{Addr: r.addr()})
		b.Cleanup(func() { _ = rdb.Close() })
		o := Options{Logger: quiet}
		if withConfirm {
			o.OnSubscribe = func(room string) { confirmed.LoadOrStore(room, time.Now()) }
		}
		h := hub.New[string](hub.Options{Backplane: New(rdb, o), Logger: quiet})
		b.Cleanup(h.Close)
		return h
	}
	pub, sub := newHub(false), newHub(true)
	const rooms = 100
	var missed, joins int
	var confirm time.Duration
	for n := range b.N {
		got := make([]chan string, rooms)
		joinedAt := make([]time.Time, rooms)
		for i := range rooms {
			room := fmt.Sprint(n, "-", i)
			got[i] = make(chan string, 1)
			joinedAt[i] = time.Now()
			sub.Join(room, "m", got[i], make(chan int, 1), make(chan bool))
			_ = pub.Broadcast(room, "hello")
		}
		// A fence per room after the confirmation: whatever arrives
		// before it arrived.
		for i := range rooms {
			room := fmt.Sprint(n, "-", i)
			for {
				if at, ok := confirmed.Load(room); ok {
					confirm += at.(time.Time).Sub(joinedAt[i])
					joins++
					break
				}
				if time.Since(joinedAt[i]) > wait {
					b.Fatalf("room %s: never confirmed", room)
				}
				time.Sleep(time.Millisecond)
			}
			_ = pub.Broadcast(room, "fence")
			select {
			case m := <-got[i]:
				if m != "hello" {
					missed++
				}
			case <-time.After(wait):
				b.Fatalf("room %s: not even the fence arrived", room)
			}
		}
	}
	b.ReportMetric(float64(missed)/float64(b.N*rooms), "missed/room")
	b.ReportMetric(float64(confirm.Microseconds())/float64(joins), "confirm-µs")
}
