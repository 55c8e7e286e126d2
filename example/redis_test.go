package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/go-macaron/sockets/hub"
	redisbp "github.com/go-macaron/sockets/hub/redis"
)

// redisServer is a redis-server process of the test's own, on a loopback
// port the OS picked, which the test can stop and start again on that
// port (an outage).
type redisServer struct {
	t    *testing.T
	addr string
	cmd  *exec.Cmd
}

// startRedis starts a redis-server, or skips the test without one (fails
// it under CI).
func startRedis(t *testing.T) *redisServer {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no redis-server; .ci/run installs Debian's redis-server package")
		}
		t.Skip("no redis-server: install Debian's redis-server package to run the test across servers")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	r := &redisServer{t: t, addr: addr}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) start() {
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: r.addr})
	defer rdb.Close()
	for deadline := time.Now().Add(30 * time.Second); rdb.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not answer within 30 s")
		}
	}
}

func (r *redisServer) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// chatServer is one server of the chat, named name, whose rooms span
// servers through the Redis at addr, as `-redis addr` runs it, its Redis
// checked every 100 ms.
func chatServer(t *testing.T, name, addr, front string) string {
	quiet := log.New(io.Discard, "", 0)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	rooms := hub.New[*Message](hub.Options{Logger: quiet, Server: name, History: historyKept, // the servers share this process
		Backplane: redisbp.New(rdb, redisbp.Options{Logger: quiet, Durable: true})})
	ctx, cancel := context.WithCancel(context.Background())
	app := mustApp(t, ctx, rooms, front)
	srv := httptest.NewServer(app)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchRedis(ctx, rdb, addr, 100*time.Millisecond, quiet, app.chat.setServersUp)
	}()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		<-watched
		rooms.Close()
		_ = rdb.Close()
	})
	return srv.URL
}

// TestBrowserAcrossServers: two servers share rooms through Redis, each
// page on its own server, on both fronts and both viewports. A member
// who joins on the second server sees what was said on the first before
// it came, and the two talk; while Redis is down each page says that the
// other servers are unreachable, and once it is back the page says so and
// the room is one again.
func TestBrowserAcrossServers(t *testing.T) {
	inEveryBrowserView(t, browserAcrossServers)
}

func browserAcrossServers(t *testing.T, front string, v viewport, artifacts string) {
	r := startRedis(t)
	one, two := chatServer(t, "one", r.addr, front), chatServer(t, "two", r.addr, front)
	tab := func() context.Context {
		ctx, _ := browser(t)
		drive(t, ctx, "set the viewport", v.emulate())
		return ctx
	}
	ann, cid := tab(), tab()
	joinRoom(t, ann, one, "R", "ann")
	say(t, ann, "said before cid came")
	waitLog(t, ann, "ann: said before cid came")

	joinRoom(t, cid, two, "R", "cid")
	waitLog(t, cid, "ann: said before cid came")
	waitFor(t, cid, "ann, on the other server, in cid's member list", text("members")+` === "anncid"`)
	waitLog(t, ann, "cid joined")
	say(t, cid, "hello across servers")
	waitLog(t, ann, "cid: hello across servers")

	banner := `document.getElementById("servers").offsetParent !== null`
	if evalBool(t, ann, "no banner", banner) {
		t.Fatal("the unreachable banner shows while Redis is up")
	}
	r.stop()
	for _, p := range []context.Context{ann, cid} {
		waitFor(t, p, "the other servers are unreachable", banner+` && `+text("servers")+`.startsWith("Other servers are unreachable")`)
	}
	// What is said meanwhile is held (the room's one order is Redis's):
	// everyone, ann included, sees it once Redis is back.
	say(t, ann, "said during the outage")
	if !evalBool(t, ann, "banner in view", visible("servers")) {
		t.Errorf("the unreachable banner is out of view on the %s viewport", v.name)
	}
	screenshot(t, ann, artifacts, fmt.Sprintf("chat-servers-unreachable-%s-%s.png", strings.ReplaceAll(front, "/", ""), v.name))
	r.start()
	for _, p := range []context.Context{ann, cid} {
		waitFor(t, p, "the banner is gone", `!(`+banner+`)`)
		waitLog(t, p, "Other servers are reachable again")
		waitLog(t, p, "ann: said during the outage")
	}
	say(t, cid, "after the outage")
	for _, p := range []context.Context{ann, cid} {
		waitLog(t, p, "cid: after the outage")
		if log := logText(t, p); strings.Count(log, "ann: said during the outage") != 1 ||
			strings.Index(log, "ann: said during the outage") > strings.Index(log, "cid: after the outage") {
			t.Errorf("what ann said during the outage is not shown once, before what followed:\n%s", log)
		}
	}
}

// balancer is a load balancer's stand-in in front of chat servers: pages
// come from it, and each request is proxied to the server it names at
// that moment; while it names none, requests wait until it does (so that
// a page's reconnection is held, not refused into a long backoff). cut
// drops a path's last proxied socket, as a network does.
type balancer struct {
	url     string
	mu      sync.Mutex
	to      *url.URL
	held    chan struct{} // closed when a server is named again
	sockets sync.Map      // request path -> the browser's side of its last WebSocket
}

func newBalancer(t *testing.T, to string) *balancer {
	b := &balancer{}
	b.send(to)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			b.mu.Lock()
			pr.SetURL(b.to)
			b.mu.Unlock()
			pr.Out.Host = pr.In.Host // the page's origin is the balancer's
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for {
			b.mu.Lock()
			to, held := b.to, b.held
			b.mu.Unlock()
			if to != nil {
				break
			}
			select {
			case <-held:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(&statusRecorder{ResponseWriter: w, missing: new(atomic.Int64), path: r.URL.Path, sockets: &b.sockets}, r)
	}))
	t.Cleanup(func() {
		b.send(to) // release whatever waits
		srv.Close()
	})
	b.url = srv.URL
	return b
}

// send names the server the next requests go to ("": none, they wait).
func (b *balancer) send(to string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if to == "" {
		b.to = nil
		if b.held == nil {
			b.held = make(chan struct{})
		}
		return
	}
	u, err := url.Parse(to)
	if err != nil {
		panic(err)
	}
	b.to = u
	if b.held != nil {
		close(b.held)
		b.held = nil
	}
}

func (b *balancer) cut(t *testing.T, path string) {
	c, ok := b.sockets.Load(path)
	if !ok {
		t.Fatalf("no WebSocket at %s went through the balancer", path)
	}
	_ = c.(net.Conn).Close()
}

// TestBrowserResumeOnAnotherServer: two servers share a room through
// Redis behind a balancer. ann's socket (through the balancer, to server
// one) is cut while bob, on server two, goes on talking; her page
// reconnects through the balancer, now to server two, resumes from the
// last message it showed, and shows what she missed once each, in order,
// the count where they start. Both fronts, every viewport.
func TestBrowserResumeOnAnotherServer(t *testing.T) {
	inEveryBrowserView(t, browserResumeOnAnotherServer)
}

func browserResumeOnAnotherServer(t *testing.T, front string, v viewport, artifacts string) {
	r := startRedis(t)
	one, two := chatServer(t, "one", r.addr, front), chatServer(t, "two", r.addr, front)
	lb := newBalancer(t, one)
	tab := func() context.Context {
		ctx, _ := browser(t)
		drive(t, ctx, "set the viewport", v.emulate())
		return ctx
	}
	ann, bob := tab(), tab()
	joinRoom(t, ann, lb.url, "R", "ann")
	joinRoom(t, bob, two, "R", "bob")
	waitLog(t, ann, "bob joined")
	say(t, ann, "before the cut")
	waitLog(t, bob, "ann: before the cut")

	// The balancer takes server one out; ann's socket drops, and her
	// page's reconnection waits until the balancer sends it to server two.
	lb.send("")
	lb.cut(t, "/sockets/rooms/R/ann")
	waitLog(t, bob, "ann left")
	said := []string{"one", "two", "three"}
	for _, text := range said {
		say(t, bob, text)
	}
	waitLog(t, bob, "bob: three")
	lb.send(two)
	awaitResumed(t, ann, "after resuming on the other server ann")
	screenshot(t, ann, artifacts, "chat-resumed-elsewhere-"+strings.ReplaceAll(front, "/", "")+"-"+v.name+".png")
}
