package redis

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/hub"
	gorilla "github.com/gorilla/websocket"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"gopkg.in/macaron.v1"
)

const wait = 10 * time.Second

func TestMain(m *testing.M) {
	if os.Getenv(envNode) != "" {
		os.Exit(runNode())
	}
	goleak.VerifyTestMain(m)
}

// redisServer is a redis-server process on a loopback port.
type redisServer struct {
	t     testing.TB
	bin   string
	port  int
	extra []string // more arguments
	cmd   *exec.Cmd
}

// startRedis starts redis-server on a free loopback port. Without one
// installed the test is skipped, except under CI, where that is a failure.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	return startRedisWith(t, freePort(t))
}

// freePort is a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRedisWith starts redis-server on port with extra arguments.
func startRedisWith(t testing.TB, port int, extra ...string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed; .ci/run installs it with apt-get")
		}
		t.Skip("redis-server not found: install Debian's redis-server package to run this test")
	}
	r := &redisServer{t: t, bin: bin, port: port, extra: extra}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	args := []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}
	r.cmd = exec.Command(r.bin, append(args, r.extra...)...)
	// It dies with the test process, even one that panics past its
	// cleanups.
	dieWithParent(r.cmd)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for {
		c, err := net.Dial("tcp", r.addr())
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not start on %s: %v", r.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// node is one chat server: Macaron, the middleware, and a hub on the Redis
// backplane.
type node struct {
	hub        *hub.Hub[string]
	srv        *httptest.Server
	subscribed chan struct{}
	rdb        *goredis.Client
}

func startNode(t *testing.T, redisAddr string) *node {
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr, MaxRetries: -1, DialTimeout: time.Second})
	n := &node{subscribed: make(chan struct{}, 16), rdb: rdb}
	quiet := log.New(io.Discard, "", 0)
	bp := New(rdb, Options{HealthCheck: 200 * time.Millisecond, Logger: quiet,
		OnSubscribe: func(string) { n.subscribed <- struct{}{} }})
	n.hub = hub.New[string](hub.Options{Backplane: bp, Logger: quiet, QueueSize: 1000})
	m := macaron.New()
	m.Get("/ws/:name", sockets.Messages(&sockets.Options{SkipLogging: true, SendChannelBuffer: 100}),
		func(ctx *macaron.Context, in <-chan string, out chan<- string, disconnect chan<- int, done <-chan bool) {
			me, _ := n.hub.Join("room", ctx.Params("name"), out, disconnect, done)
			defer me.Leave()
			for {
				select {
				case msg := <-in:
					n.hub.Broadcast("room", msg)
				case <-done:
					return
				}
			}
		})
	n.srv = httptest.NewServer(m)
	t.Cleanup(func() {
		n.srv.Close()
		n.hub.Close()
		_ = rdb.Close()
	})
	return n
}

func (n *node) waitSubscribed(t *testing.T) {
	t.Helper()
	select {
	case <-n.subscribed:
	case <-time.After(wait):
		t.Fatal("the backplane did not (re)subscribe")
	}
}

// client is one chat member and what it received.
type client struct {
	name string
	c    *gorilla.Conn
	mu   sync.Mutex
	got  map[string]int
	all  chan string
}

func dial(t *testing.T, n *node, name string) *client {
	host := strings.TrimPrefix(n.srv.URL, "http://")
	c, _, err := gorilla.DefaultDialer.Dial("ws://"+host+"/ws/"+name, http.Header{"Origin": {n.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{name: name, c: c, got: map[string]int{}, all: make(chan string, 1000)}
	go func() {
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			cl.mu.Lock()
			cl.got[string(p)]++
			cl.mu.Unlock()
			cl.all <- string(p)
		}
	}()
	t.Cleanup(func() {
		_ = c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
		_ = c.Close()
	})
	return cl
}

func (cl *client) say(t *testing.T, msg string) {
	t.Helper()
	if err := cl.c.WriteMessage(gorilla.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// await waits until cl has received msg.
func (cl *client) await(t *testing.T, msg string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		cl.mu.Lock()
		n := cl.got[msg]
		cl.mu.Unlock()
		if n > 0 {
			return
		}
		select {
		case <-cl.all:
		case <-deadline:
			t.Fatalf("%s never received %q", cl.name, msg)
		}
	}
}

// count returns how many times cl received msg.
func (cl *client) count(msg string) int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.got[msg]
}

// exchange has every client say k messages tagged with tag, waits until
// every client received all of them, then checks each arrived exactly once.
func exchange(t *testing.T, clients []*client, tag string, k int) {
	t.Helper()
	for _, cl := range clients {
		for i := range k {
			cl.say(t, fmt.Sprintf("%s %s %d", tag, cl.name, i))
		}
	}
	for _, to := range clients {
		for _, from := range clients {
			for i := range k {
				to.await(t, fmt.Sprintf("%s %s %d", tag, from.name, i))
			}
		}
	}
	// A fence after them: a duplicate would have arrived before it.
	fence := tag + " fence"
	clients[0].say(t, fence)
	for _, to := range clients {
		to.await(t, fence)
	}
	for _, to := range clients {
		for _, from := range clients {
			for i := range k {
				if n := to.count(fmt.Sprintf("%s %s %d", tag, from.name, i)); n != 1 {
					t.Fatalf("%s received %s's message %d %d times, want once", to.name, from.name, i, n)
				}
			}
		}
	}
}

// TestTwoServersOneRoom: clients on two servers share one room through
// Redis; every message reaches every member exactly once; with Redis
// stopped the local rooms go on; once it is back, delivery resumes.
func TestTwoServersOneRoom(t *testing.T) {
	r := startRedis(t)
	a, b := startNode(t, r.addr()), startNode(t, r.addr())
	clients := []*client{dial(t, a, "a1"), dial(t, a, "a2"), dial(t, b, "b1"), dial(t, b, "b2")}
	// A server subscribes to the room with its first member.
	a.waitSubscribed(t)
	b.waitSubscribed(t)
	deadline := time.Now().Add(wait)
	for len(a.hub.Members("room")) != 2 || len(b.hub.Members("room")) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the clients did not join")
		}
		time.Sleep(5 * time.Millisecond)
	}
	exchange(t, clients, "before", 5)

	r.stop()
	// Local delivery goes on; publishing fails and is counted.
	clients[0].say(t, "while down")
	clients[1].await(t, "while down")
	deadline = time.Now().Add(wait)
	for a.hub.Stats().PublishFailures == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a publish to a stopped Redis did not fail")
		}
		time.Sleep(10 * time.Millisecond)
	}

	r.start()
	a.waitSubscribed(t)
	b.waitSubscribed(t)
	exchange(t, clients, "after", 5)
	if got := clients[2].count("while down"); got != 0 {
		t.Fatalf("a message published while Redis was down arrived %d times", got)
	}
}
