//go:build load

// The load test holds 10 000 WebSocket connections at once. It needs a build
// tag (go test -tags load -run TestLoad .) and no race detector, which
// cannot track that many goroutines. .ci/run runs it.

package sockets

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
)

const (
	loadConns    = 10000
	loadMessages = 3
)

// raiseFileLimit lifts the soft limit on open files to the hard one and
// reports it. One process holds one end of each connection: the clients
// run in a child process, so each side needs loadConns descriptors.
func raiseFileLimit(t *testing.T) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < loadConns+500 {
		t.Fatalf("the open-file limit is %d (hard): too few for %d connections in one process", lim.Cur, loadConns)
	}
	return lim.Cur
}

// memInUse returns the bytes of heap spans and goroutine stacks in use, and
// of those the live ones: the heap's live objects and the stacks. The
// difference is free room in partly used spans.
func memInUse() (inUse, live uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, ms.HeapAlloc + ms.StackInuse
}

// TestLoad holds 10 000 connections, each exchanging messages with an echo
// handler, and reports the server's bytes and goroutines per connection.
func TestLoad(t *testing.T) {
	if os.Getenv("SOCKETS_LOAD_ADDR") != "" {
		t.Skip("the client side runs in TestLoadClient")
	}
	checkLeaks(t)
	limit := raiseFileLimit(t)
	o := testOptions(&logBuffer{})
	o.SkipLogging = true
	o.PingPeriod, o.PongWait = 30*time.Second, time.Minute
	var open atomic.Int64
	ts := serve(t, Messages(o), func(in <-chan string, out chan<- string, done <-chan bool) {
		open.Add(1)
		defer open.Add(-1)
		for {
			select {
			case m := <-in:
				out <- m
			case <-done:
				return
			}
		}
	})
	baseG := runtime.NumGoroutine()
	baseB, baseL := memInUse()

	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadClient$", "-test.v")
	cmd.Env = append(os.Environ(), "SOCKETS_LOAD_ADDR="+ts.host)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	ready := false
	for lines.Scan() {
		t.Log("client:", lines.Text())
		if lines.Text() == "READY" {
			ready = true
			break
		}
	}
	if !ready {
		_ = cmd.Wait()
		t.Fatal("the client process did not open its connections")
	}
	deadline := time.Now().Add(time.Minute)
	for open.Load() != loadConns && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n != loadConns {
		t.Fatalf("the server holds %d connections, want %d", n, loadConns)
	}
	used, live := memInUse()
	g := runtime.NumGoroutine() - baseG
	t.Logf("%d connections (open-file limit %d): %.0f bytes (%.0f live) and %.2f goroutines per connection on the server",
		loadConns, limit, float64(used-baseB)/loadConns, float64(live-baseL)/loadConns, float64(g)/loadConns)
	// Idle for a while, each loop has parked: the write loop a second
	// after its last event, the read loop one to two seconds after its
	// last data.
	time.Sleep(2500 * time.Millisecond)
	used, live = memInUse()
	g = runtime.NumGoroutine() - baseG
	t.Logf("idle for 2.5 s: %.0f bytes (%.0f live) and %.2f goroutines per connection on the server",
		float64(used-baseB)/loadConns, float64(live-baseL)/loadConns, float64(g)/loadConns)

	_ = stdin.Close() // the client closes every connection and exits
	for lines.Scan() {
		t.Log("client:", lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client: %v", err)
	}
	deadline = time.Now().Add(time.Minute)
	for open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n != 0 {
		t.Fatalf("%d connections still open after the clients left", n)
	}
	// The leak check registered first runs after the server closes.
}

// TestLoadClient is the client process of TestLoad: it opens loadConns
// connections, sends loadMessages messages on each and checks every echo,
// reports READY with all of them open, and closes them when its standard
// input closes.
func TestLoadClient(t *testing.T) {
	addr := os.Getenv("SOCKETS_LOAD_ADDR")
	if addr == "" {
		t.Skip("run by TestLoad")
	}
	raiseFileLimit(t)
	conns := make([]*gorilla.Conn, loadConns)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var delivered atomic.Int64
	slots := make(chan struct{}, 200) // handshakes in flight
	dialer := gorilla.Dialer{HandshakeTimeout: 30 * time.Second}
	for i := range conns {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			c, _, err := dialer.Dial("ws://"+addr+"/ws", map[string][]string{"Origin": {"http://" + addr}})
			if err != nil {
				failed.Add(1)
				fmt.Println("dial:", err)
				return
			}
			conns[i] = c
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			for m := range loadMessages {
				want := strconv.Itoa(i) + "/" + strconv.Itoa(m)
				if err := c.WriteMessage(gorilla.TextMessage, []byte(want)); err != nil {
					failed.Add(1)
					return
				}
				_, got, err := c.ReadMessage()
				if err != nil || string(got) != want {
					failed.Add(1)
					fmt.Printf("conn %d: echo %q, %v\n", i, got, err)
					return
				}
				delivered.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d messages delivered and echoed, %d failures\n", delivered.Load(), failed.Load())
	if failed.Load() != 0 || delivered.Load() != loadConns*loadMessages {
		t.Fatal("not every message was delivered")
	}
	fmt.Println("READY")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes it
	for _, c := range conns {
		_ = c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
		_ = c.Close()
	}
}
