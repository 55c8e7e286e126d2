package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	rooms := hub.New[*Message](hub.Options{Logger: quiet, Server: name, // the servers share this process
		Backplane: redisbp.New(rdb, redisbp.Options{Logger: quiet})})
	ctx, cancel := context.WithCancel(context.Background())
	app := mustAppWith(t, ctx, rooms, redisHistory{rdb}, front)
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
	if !evalBool(t, ann, "banner in view", visible("servers")) {
		t.Errorf("the unreachable banner is out of view on the %s viewport", v.name)
	}
	screenshot(t, ann, artifacts, fmt.Sprintf("chat-servers-unreachable-%s-%s.png", strings.ReplaceAll(front, "/", ""), v.name))
	r.start()
	for _, p := range []context.Context{ann, cid} {
		waitFor(t, p, "the banner is gone", `!(`+banner+`)`)
		waitLog(t, p, "Other servers are reachable again")
	}
	// The room is one again once the servers have resubscribed: each
	// round is said until the other side hears it (a message published
	// before the resubscription is for this server's members only).
	for round := 0; ; round++ {
		msg := fmt.Sprint("after the outage ", round)
		say(t, ann, msg)
		ok := false
		_ = chromedp.Run(cid, chromedp.Poll(`document.getElementById("log").textContent.includes(`+quoteJS(msg)+`)`, &ok,
			chromedp.WithPollingTimeout(2*time.Second)))
		if ok {
			break
		}
		if round == 30 {
			t.Fatal("the servers never shared the room again after the outage")
		}
	}
}
