package redis_test

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/go-macaron/sockets/hub"
	redisbp "github.com/go-macaron/sockets/hub/redis"
	goredis "github.com/redis/go-redis/v9"
)

// Two servers, each with a member in the lobby, share it through Redis: a
// broadcast on one reaches the member on the other. (It starts its own
// redis-server on a free loopback port, as the package's tests do.)
func Example() {
	addr, stop, err := startRedisServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()

	subscribed := make(chan string, 2)
	server := func(name string) *hub.Hub[string] {
		bp := redisbp.New(rdb, redisbp.Options{OnSubscribe: func(room string) { subscribed <- name }})
		return hub.New[string](hub.Options{Server: name, Backplane: bp})
	}
	a, b := server("a"), server("b")
	defer a.Close()
	defer b.Close()

	ann, bob := make(chan string, 1), make(chan string, 1)
	a.Join("lobby", "ann", ann, make(chan int, 1), make(chan bool))
	b.Join("lobby", "bob", bob, make(chan int, 1), make(chan bool))
	<-subscribed // both servers hear the lobby now
	<-subscribed

	_ = a.Broadcast("lobby", "hello from server a")
	fmt.Println("ann (on a):", <-ann)
	fmt.Println("bob (on b):", <-bob)
	// Output:
	// ann (on a): hello from server a
	// bob (on b): hello from server a
}

// startRedisServer starts redis-server on a free loopback port, and
// returns its address and how to stop it.
func startRedisServer() (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	addr = "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start redis-server (Debian's redis-server package): %w", err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server did not start on %s", addr)
		}
	}
}
