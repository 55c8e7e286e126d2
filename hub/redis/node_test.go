package redis

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-macaron/sockets/hub"
	"github.com/go-macaron/sockets/wschan"
	gorilla "github.com/gorilla/websocket"
	goredis "github.com/redis/go-redis/v9"
)

// The multi-server tests run each chat server in a process of its own:
// this test binary, started again with HUB_NODE set, runs runNode instead
// of the tests.
const (
	envNode    = "HUB_NODE"         // the Redis address(es), comma separated
	envCluster = "HUB_NODE_CLUSTER" // "1": a Redis Cluster client
	envDurable = "HUB_NODE_DURABLE" // "1": the Durable mode
	envName    = "HUB_NODE_NAME"    // the server's name in presence
)

// spy is a Backplane that records which rooms it delivered messages of,
// and which subscriptions Redis confirmed.
type spy struct {
	*Backplane
	mu         sync.Mutex
	heard      map[string]int
	subscribed map[string]bool
}

func (s *spy) Run(ctx context.Context, deliver func(room string, msg []byte)) {
	s.Backplane.Run(ctx, func(room string, msg []byte) {
		s.mu.Lock()
		s.heard[room]++
		s.mu.Unlock()
		deliver(room, msg)
	})
}

// nodeStats is what a node process reports on /stats.
type nodeStats struct {
	Heard      map[string]int
	Subscribed []string
	Rooms      []string
	Hub        hub.Stats
}

// runNode serves one chat server until its standard input closes: /ws
// joins the rooms listed in ?rooms= (comma separated) under ?name=, and
// broadcasts each message "room|text" to its room.
func runNode() int {
	addrs := strings.Split(os.Getenv(envNode), ",")
	var rdb goredis.UniversalClient
	if os.Getenv(envCluster) == "1" {
		rdb = goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs, DialTimeout: 300 * time.Millisecond,
			ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 2})
	} else {
		rdb = goredis.NewClient(&goredis.Options{Addr: addrs[0], DialTimeout: 300 * time.Millisecond, MaxRetries: -1})
	}
	defer rdb.Close()
	name := os.Getenv(envName)
	logger := log.New(os.Stderr, "["+name+"] ", log.Lmicroseconds)
	s := &spy{heard: map[string]int{}, subscribed: map[string]bool{}}
	s.Backplane = New(rdb, Options{Durable: os.Getenv(envDurable) == "1", HealthCheck: 300 * time.Millisecond,
		Logger: logger, PresenceTTL: time.Second,
		OnSubscribe: func(room string) {
			s.mu.Lock()
			s.subscribed[room] = true
			s.mu.Unlock()
		}})
	h := hub.New[string](hub.Options{Backplane: s, Server: name, Logger: logger, QueueSize: 4096, MaxBacklog: 1 << 16})
	mux := http.NewServeMux()
	mux.Handle("/ws", wschan.Handler(func(c *wschan.Conn[string]) {
		q := c.Request.URL.Query()
		for _, room := range strings.Split(q.Get("rooms"), ",") {
			h.Join(room, q.Get("name"), c.Sender, c.Disconnect, c.Done)
		}
		for {
			select {
			case msg := <-c.Receiver:
				if room, _, ok := strings.Cut(msg, "|"); ok {
					h.Broadcast(room, msg)
				}
			case <-c.Done:
				return
			}
		}
	}, &wschan.Options{SkipLogging: true, AllowedOrigin: ".*", SendChannelBuffer: 256}))
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		st := nodeStats{Hub: h.Stats(), Rooms: h.Rooms(), Heard: map[string]int{}}
		s.mu.Lock()
		for r, n := range s.heard {
			st.Heard[r] = n
		}
		for r := range s.subscribed {
			st.Subscribed = append(st.Subscribed, r)
		}
		s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("/presence", func(w http.ResponseWriter, r *http.Request) {
		ps, err := h.Presence(r.Context(), r.URL.Query().Get("room"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = json.NewEncoder(w).Encode(ps)
	})
	mux.HandleFunc("/sendto", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		h.SendTo(q.Get("room"), q.Get("name"), q.Get("room")+"|"+q.Get("text"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logger.Print(err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("listening %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the test closes it
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	h.Close()
	return 0
}

// nodeProc is a node process.
type nodeProc struct {
	name  string
	addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startNodeProc starts a node process on redisAddrs; it stops when the test
// ends.
func startNodeProc(t *testing.T, name string, redisAddrs []string, cluster, durable bool) *nodeProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envNode+"="+strings.Join(redisAddrs, ","), envName+"="+name)
	if cluster {
		cmd.Env = append(cmd.Env, envCluster+"=1")
	}
	if durable {
		cmd.Env = append(cmd.Env, envDurable+"=1")
	}
	cmd.Stderr = &prefixWriter{t: t}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &nodeProc{name: name, cmd: cmd, stdin: stdin}
	t.Cleanup(n.stop)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(l, "listening ")
		if !ok {
			t.Fatalf("node %s: %q", name, l)
		}
		n.addr = addr
	case <-time.After(wait):
		t.Fatalf("node %s did not start", name)
	}
	return n
}

// stop closes the node's standard input and waits for it to exit.
func (n *nodeProc) stop() {
	if n.cmd.Process == nil || n.cmd.ProcessState != nil {
		return
	}
	_ = n.stdin.Close()
	exited := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(wait):
		_ = n.cmd.Process.Kill()
		<-exited
	}
}

// kill ends the node at once, as a crash would.
func (n *nodeProc) kill() {
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
}

func (n *nodeProc) stats(t *testing.T) nodeStats {
	t.Helper()
	var st nodeStats
	n.getJSON(t, "/stats", &st)
	return st
}

func (n *nodeProc) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + n.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// waitSubscribed waits until Redis confirmed the node's subscription to
// each of rooms.
func (n *nodeProc) waitSubscribed(t *testing.T, rooms []string) {
	t.Helper()
	deadline := time.Now().Add(3 * wait)
	for {
		st := n.stats(t)
		got := map[string]bool{}
		for _, r := range st.Subscribed {
			got[r] = true
		}
		missing := 0
		for _, r := range rooms {
			if !got[r] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: %d of its %d rooms not subscribed", n.name, missing, len(rooms))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// prefixWriter passes a node's log to the test log.
type prefixWriter struct {
	t  *testing.T
	mu sync.Mutex
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(l)
	}
	return len(p), nil
}

// member is a client connection, a member of several rooms, and every
// message it received, by room and publisher, in arrival order.
type member struct {
	name  string
	rooms []string
	c     *gorilla.Conn
	wmu   sync.Mutex // serialises writes
	mu    sync.Mutex
	got   map[string][]string // "room|publisher" -> texts in arrival order
	total int
	ended chan struct{}
}

func dialMember(t *testing.T, n *nodeProc, name string, rooms []string) *member {
	t.Helper()
	u := fmt.Sprintf("ws://%s/ws?name=%s&rooms=%s", n.addr, name, strings.Join(rooms, ","))
	c, _, err := gorilla.DefaultDialer.Dial(u, http.Header{"Origin": {"http://" + n.addr}})
	if err != nil {
		t.Fatal(err)
	}
	m := &member{name: name, rooms: rooms, c: c, got: map[string][]string{}, ended: make(chan struct{})}
	go func() {
		defer close(m.ended)
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			// "room|publisher|text"
			f := strings.SplitN(string(p), "|", 3)
			if len(f) != 3 {
				continue
			}
			m.mu.Lock()
			m.got[f[0]+"|"+f[1]] = append(m.got[f[0]+"|"+f[1]], f[2])
			m.total++
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
		_ = c.Close()
		<-m.ended
	})
	return m
}

// send publishes "room|publisher|text" through the member's connection.
func (m *member) send(t *testing.T, room, text string) {
	t.Helper()
	if err := m.write(room, text); err != nil {
		t.Fatal(err)
	}
}

// write is send for any goroutine: writes are serialised.
func (m *member) write(room, text string) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	return m.c.WriteMessage(gorilla.TextMessage, []byte(room+"|"+m.name+"|"+text))
}

// texts returns what the member received in room from publisher.
func (m *member) texts(room, publisher string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got[room+"|"+publisher]...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
