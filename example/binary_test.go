package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// buildChat builds the example's binary once per test binary.
var buildChat = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sockets-example-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "chat")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// chatProcess is the example's binary, running.
type chatProcess struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	lines  chan string   // stdout, line by line
	exited chan struct{} // closed once the process has exited
	err    error         // what Wait returned, once exited is closed
}

// startChat starts the binary with args.
func startChat(t *testing.T, args ...string) *chatProcess {
	t.Helper()
	bin, err := buildChat()
	if err != nil {
		t.Fatal(err)
	}
	p := &chatProcess{cmd: exec.Command(bin, args...), lines: make(chan string, 1000), exited: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			select {
			case p.lines <- s.Text():
			default:
			}
		}
		close(p.lines)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(wait):
		}
	})
	return p
}

// waitLine waits for a stdout line that matches re and returns its
// submatches.
func (p *chatProcess) waitLine(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("the chat exited without printing %v; stderr: %s", re, p.stderr.String())
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no line matching %v", re)
		}
	}
}

// exitCode waits for the process to exit and returns its status.
func (p *chatProcess) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		err := p.err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(15 * time.Second):
		t.Fatal("the chat did not exit")
		return -1
	}
}

var listening = regexp.MustCompile(`^\[(127\.0\.0\.1:\d+)\] .*chat on http://(127\.0\.0\.1:\d+), served by the (\S+) front`)

// TestBinaryGracefulShutdown: the real binary, 100 clients connected, then
// SIGINT. Every client gets close 1001 (none sees 1006), and the process
// exits 0; on both fronts.
func TestBinaryGracefulShutdown(t *testing.T) {
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) { gracefulShutdown(t, front) })
	}
}

func gracefulShutdown(t *testing.T, front string) {
	p := startChat(t, "-addr", "127.0.0.1:0", "-front", front)
	m := p.waitLine(t, listening)
	if m[1] != m[2] || m[3] != front {
		t.Fatalf("the log prefix %s is not the address %s, or the front %s is not %s", m[1], m[2], m[3], front)
	}
	addr := m[2]
	const clients = 100
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		url := fmt.Sprintf("ws://%s/sockets/rooms/room%d/user%d", addr, i%5, i)
		c, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"http://" + addr}})
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		defer c.Close()
		conns[i] = c
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, _, err := c.ReadMessage(); err != nil { // the members message: joined
			t.Fatalf("client %d: %v", i, err)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	codes := map[int]int{}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		for {
			_, _, err := c.ReadMessage()
			if err == nil {
				continue // join and leave messages of the others
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				codes[ce.Code]++
			} else {
				codes[-1]++
			}
			break
		}
	}
	if codes[websocket.CloseGoingAway] != clients {
		t.Fatalf("close codes seen by the clients (-1: no close frame): %v, want %d x 1001", codes, clients)
	}
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit status %d, want 0; stderr: %s", code, p.stderr.String())
	}
}

// TestBinaryStartFailures: a port already in use, or a Redis that cannot be
// reached, stops the binary with status 1 and a message saying what
// failed, before it claims to serve anything.
func TestBinaryStartFailures(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	noRedis := closed.Addr().String()
	_ = closed.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-addr", taken.Addr().String()}, "cannot listen on " + taken.Addr().String()},
		{[]string{"-addr", "127.0.0.1:0", "-redis", noRedis}, "cannot reach Redis at " + noRedis},
	} {
		p := startChat(t, c.args...)
		if code := p.exitCode(t); code != 1 {
			t.Errorf("%v: exit status %d, want 1", c.args, code)
		}
		if !strings.Contains(p.stderr.String(), c.want) {
			t.Errorf("%v: stderr %q does not say %q", c.args, p.stderr.String(), c.want)
		}
		for line := range p.lines {
			if strings.Contains(line, "chat on http://") {
				t.Errorf("%v: printed %q although it does not serve", c.args, line)
			}
		}
	}
}

// TestBinaryRedisStates: with -redis, the binary says that rooms are shared,
// then says in its own words when Redis goes away and when it is back, and
// prints none of go-redis's own pool messages.
func TestBinaryRedisStates(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed; .ci/run installs it with apt-get")
		}
		t.Skip("redis-server not found: install Debian's redis-server package to run this test")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	startRedis := func() *exec.Cmd {
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) { // polling for the port, bounded
			if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
				_ = c.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatal("redis-server did not start")
			}
		}
	}
	redis := startRedis()
	p := startChat(t, "-addr", "127.0.0.1:0", "-redis", "127.0.0.1:"+port, "-redis-check", "100ms")
	p.waitLine(t, regexp.MustCompile(`rooms shared through Redis at 127\.0\.0\.1:`+port))
	p.waitLine(t, listening)
	_ = redis.Process.Kill()
	_ = redis.Wait()
	p.waitLine(t, regexp.MustCompile(`Redis at 127\.0\.0\.1:`+port+` is unreachable .*: messages stay on this server`))
	startRedis()
	p.waitLine(t, regexp.MustCompile(`Redis at 127\.0\.0\.1:`+port+` is back: rooms are shared again`))
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if strings.Contains(p.stderr.String(), "redis: ") {
		t.Fatalf("go-redis's own messages reached the output: %s", p.stderr.String())
	}
}

// TestBinaryShutdownWithIdleConnection: Ctrl-C with a WebSocket open and a
// plain connection that never sent a request (a browser's preconnect):
// the WebSocket gets 1001, the idle connection is closed, the binary says
// what it does and exits 0, without the five seconds net/http's Shutdown
// grants such a connection.
func TestBinaryShutdownWithIdleConnection(t *testing.T) {
	p := startChat(t, "-addr", "127.0.0.1:0")
	addr := p.waitLine(t, listening)[2]
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/sockets/rooms/r/ann", http.Header{"Origin": {"http://" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, regexp.MustCompile(`shutting down: closing every WebSocket with 1001`))
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("the WebSocket ended with %v, want close 1001", err)
		}
		break
	}
	_ = idle.SetReadDeadline(time.Now().Add(wait))
	if n, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the idle connection read %d bytes, want it closed", n)
	}
	p.waitLine(t, regexp.MustCompile(` stopped$`))
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit status %d, want 0; stderr: %s", code, p.stderr.String())
	}
	// net/http's Shutdown alone waits five seconds for the idle
	// connection; the binary closes it after half a second.
	if took := time.Since(start); took >= 5*time.Second {
		t.Fatalf("shutting down took %v: it waited for the idle connection", took)
	} else {
		t.Logf("shut down in %v", took)
	}
}

// TestBinaryFlags: -h prints the usage and exits 0; an unknown flag or a
// stray argument exits 2 with the usage, naming the program as its errors
// do.
func TestBinaryFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "usage: chat [flags]"},
		{[]string{"-nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"-addr", "127.0.0.1:0", "extra"}, 2, `chat: unexpected argument "extra"`},
	} {
		p := startChat(t, c.args...)
		if code := p.exitCode(t); code != c.code {
			t.Errorf("%v: exit status %d, want %d", c.args, code, c.code)
		}
		if s := p.stderr.String(); !strings.Contains(s, c.want) || !strings.Contains(s, "usage: chat") {
			t.Errorf("%v: stderr %q, want %q and the usage", c.args, s, c.want)
		}
	}
}
