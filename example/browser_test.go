package main

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/go-macaron/sockets/hub"
)

// chromium finds a Chromium binary. Without one the test is skipped, except
// under CI, where that is a failure.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found; .ci/run installs Debian's chromium package")
	}
	t.Skip("no Chromium found: install Debian's chromium package to run the browser test")
	return ""
}

// profileDir makes a fresh Chromium profile folder and removes it once the
// test is over. The removal is retried for a while: Chromium's helper
// processes may still be writing there just after the browser was killed
// (t.TempDir fails the test in that case).
func profileDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "chromium-profile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove %s", dir)
	})
	return dir
}

// browser starts headless Chromium with a fresh profile and returns the
// context of its tab, and a function that closes the browser. Each user of
// the chat gets a browser of its own: with this Chromium, chromedp cannot
// evaluate scripts in a second tab of one browser (Runtime.evaluate never
// answers there), while a tab per browser works.
func browser(t *testing.T) (context.Context, context.CancelFunc) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profileDir(t)),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(900, 700),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	// This Chromium sends some CDP events newer than chromedp's protocol
	// types know; chromedp reports each as an error. They do not matter here.
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(cancel)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx, func() {
		cancel()
		cancelAlloc()
	}
}

// drive runs actions with a deadline.
func drive(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// joinRoom opens the chat page in ctx and joins room as name.
func joinRoom(t *testing.T, ctx context.Context, url, room, name string) {
	drive(t, ctx, name+" joins "+room,
		chromedp.Navigate(url),
		chromedp.SetValue("#room", room, chromedp.ByID),
		chromedp.SetValue("#name", name, chromedp.ByID),
		chromedp.Click("#joinButton", chromedp.ByID),
		chromedp.WaitEnabled("#text", chromedp.ByID),
	)
}

// waitLog waits until the tab's chat log contains text.
func waitLog(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	var ok bool
	js := `new Promise(resolve => {
		const has = () => document.getElementById("log").textContent.includes(` + quoteJS(text) + `);
		if (has()) return resolve(true);
		new MutationObserver(() => { if (has()) resolve(true); })
			.observe(document.getElementById("log"), {childList: true, subtree: true, characterData: true});
	})`
	drive(t, ctx, "wait for "+text, chromedp.Evaluate(js, &ok, awaitPromise))
}

// awaitPromise makes Evaluate wait for the promise the expression returns.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// logText returns the tab's chat log.
func logText(t *testing.T, ctx context.Context) string {
	var s string
	drive(t, ctx, "read the log", chromedp.Evaluate(`document.getElementById("log").textContent`, &s))
	return s
}

// say sends a chat message from the tab.
func say(t *testing.T, ctx context.Context, text string) {
	drive(t, ctx, "say "+text,
		chromedp.SetValue("#text", text, chromedp.ByID),
		chromedp.Click("#send", chromedp.ByID),
	)
}

func quoteJS(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// viewport is a screen the chat is checked on.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var viewports = []viewport{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}}

// emulate sets the tab's viewport.
func (v viewport) emulate() chromedp.Action {
	if v.mobile {
		return chromedp.EmulateViewport(v.width, v.height, chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(v.width, v.height)
}

// restartable serves the example's app on one address, and can stop it (as
// Ctrl-C does: every WebSocket closed with 1001) and start it again on the
// same address, as a deployment does. It counts the responses with status
// 404, which a page that loads cleanly never causes.
type restartable struct {
	t       *testing.T
	front   string
	addr    string
	rooms   *hub.Hub[*Message]
	srv     *http.Server
	app     *app
	closeWS context.CancelFunc
	served  chan struct{}
	missing atomic.Int64
}

func newRestartable(t *testing.T, rooms *hub.Hub[*Message], front string) *restartable {
	r := &restartable{t: t, front: front, addr: "127.0.0.1:0", rooms: rooms}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *restartable) url() string { return "http://" + r.addr }

func (r *restartable) start() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	var ctx context.Context
	ctx, r.closeWS = context.WithCancel(context.Background())
	r.app = mustApp(r.t, ctx, r.rooms, r.front)
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.app.ServeHTTP(&statusRecorder{ResponseWriter: w, missing: &r.missing}, req)
	})}
	r.served = make(chan struct{})
	go func() {
		defer close(r.served)
		_ = r.srv.Serve(ln)
	}()
}

func (r *restartable) stop() {
	if r.srv == nil {
		return
	}
	r.closeWS()
	_ = r.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.app.wait(ctx); err != nil {
		r.t.Errorf("stop: %v", err)
	}
	<-r.served
	r.srv = nil
}

// statusRecorder counts 404 responses; it lets the hijack through.
type statusRecorder struct {
	http.ResponseWriter
	missing *atomic.Int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if code == http.StatusNotFound {
		s.missing.Add(1)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// evalBool evaluates a JavaScript expression that yields a boolean.
func evalBool(t *testing.T, ctx context.Context, what, js string) bool {
	t.Helper()
	var ok bool
	drive(t, ctx, what, chromedp.Evaluate(js, &ok))
	return ok
}

// waitFor waits until the JavaScript condition holds, checking after each
// change of the page (and at least every 100 ms).
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	var ok bool
	js := `new Promise(resolve => {
		const has = () => { try { return !!(` + cond + `); } catch (e) { return false; } };
		if (has()) return resolve(true);
		const obs = new MutationObserver(() => { if (has()) { obs.disconnect(); resolve(true); } });
		obs.observe(document.body, {childList: true, subtree: true, characterData: true, attributes: true});
		const timer = setInterval(() => { if (has()) { clearInterval(timer); resolve(true); } }, 100);
	})`
	drive(t, ctx, "wait until "+what, chromedp.Evaluate(js, &ok, awaitPromise))
}

// text is the JavaScript for an element's text.
func text(id string) string { return `document.getElementById("` + id + `").textContent` }

// TestBrowserChat drives the chat page in headless Chromium tabs (one
// browser each), on a desktop and on a phone-sized viewport: two users in
// room A, one in room B, and each promise of the page: labels, no
// horizontal overflow, long words wrapped, the member list, one status
// line for one's own join, names taken once per room, close reasons in
// words, a reconnect after the server restarts, the echo page linked, and
// no 404 (favicon included). Screenshots are kept as test artifacts.
func TestBrowserChat(t *testing.T) {
	artifacts := artifactDir(t)
	for _, front := range fronts {
		for _, v := range viewports {
			t.Run(front+"/"+v.name, func(t *testing.T) { browserChat(t, front, v, artifacts) })
		}
	}
}

func browserChat(t *testing.T, front string, v viewport, artifacts string) {
	rooms := hub.New[*Message](hub.Options{Logger: log.New(io.Discard, "", 0)})
	defer rooms.Close()
	srv := newRestartable(t, rooms, front)
	tab := func() (context.Context, context.CancelFunc) {
		ctx, closeTab := browser(t)
		drive(t, ctx, "set the viewport", v.emulate())
		return ctx, closeTab
	}
	a1, _ := tab()
	a2, closeA2 := tab()
	b1, _ := tab()
	joinRoom(t, a1, srv.url(), "A", "ann")

	// Layout and accessibility.
	if !evalBool(t, a1, "viewport meta", `!!document.querySelector('meta[name=viewport]')`) {
		t.Error("no viewport meta")
	}
	if !evalBool(t, a1, "labels", `[...document.querySelectorAll("input")].every(i => i.labels && i.labels.length > 0)`) {
		t.Error("an input has no label")
	}
	if !evalBool(t, a1, "no horizontal overflow", `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Errorf("the page is wider than the %s viewport", v.name)
	}
	for _, id := range []string{"joinButton", "send", "members"} {
		if !evalBool(t, a1, id+" visible", `(() => { const r = document.getElementById("`+id+`").getBoundingClientRect();
			return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth; })()`) {
			t.Errorf("#%s is cut off on the %s viewport", id, v.name)
		}
	}
	if !evalBool(t, a1, "echo link", `!!document.querySelector('a[href="/echo"]')`) {
		t.Error("the echo page is not linked")
	}

	// The page offers the chat's subprotocol and the server selected it.
	if !evalBool(t, a1, "subprotocol", `ws.protocol === "`+Subprotocol+`"`) {
		t.Errorf("the page's WebSocket did not negotiate %s", Subprotocol)
	}
	// Chromium offers permessage-deflate, and the chat turns it on.
	if !evalBool(t, a1, "compression", `ws.extensions.startsWith("permessage-deflate")`) {
		t.Error("the page's WebSocket did not negotiate permessage-deflate")
	}

	// One status line for one's own join, and the member list.
	waitFor(t, a1, "ann is in the member list", text("members")+` === "ann"`)
	if s := logText(t, a1); strings.Contains(s, "ann joined") {
		t.Errorf("the log announces one's own join: %q", s)
	}
	joinRoom(t, a2, srv.url(), "A", "bob")
	joinRoom(t, b1, srv.url(), "B", "cid")
	waitLog(t, a1, "bob joined")
	waitFor(t, a1, "bob in ann's member list", text("members")+` === "annbob"`)
	waitFor(t, a2, "ann in bob's member list", text("members")+` === "annbob"`)

	say(t, a1, "hello from ann")
	waitLog(t, a2, "ann: hello from ann")

	markup := `<b>bold</b><img src=x onerror="document.title='pwned'">`
	say(t, a1, markup)
	waitLog(t, a2, "ann: "+markup)
	var elements int
	var title string
	drive(t, a2, "look for markup", chromedp.Evaluate(`document.querySelectorAll("#log b, #log img").length`, &elements),
		chromedp.Title(&title))
	if elements != 0 || title == "pwned" {
		t.Fatalf("the message was rendered as HTML: %d elements, title %q", elements, title)
	}

	long := strings.Repeat("w", 400)
	say(t, a1, long)
	waitLog(t, a2, long)
	if !evalBool(t, a2, "long word wraps", `(() => { const l = document.getElementById("log"); return l.scrollWidth <= l.clientWidth; })()`) {
		t.Error("a long word overflows the log")
	}

	closeA2() // closing the tab (and its browser) closes its WebSocket
	waitLog(t, a1, "bob left")
	waitFor(t, a1, "bob gone from the member list", text("members")+` === "ann"`)

	// Room B heard nothing of room A.
	say(t, b1, "anyone in B?")
	waitLog(t, b1, "cid: anyone in B?")
	if s := logText(t, b1); strings.Contains(s, "ann") || strings.Contains(s, "bob") {
		t.Fatalf("room B saw room A: %q", s)
	}

	// A name is taken once per room, and the page says so.
	dup, _ := tab()
	drive(t, dup, "a second ann joins A", chromedp.Navigate(srv.url()),
		chromedp.SetValue("#room", "A", chromedp.ByID), chromedp.SetValue("#name", "ann", chromedp.ByID),
		chromedp.Click("#joinButton", chromedp.ByID))
	waitFor(t, dup, "the name is refused", text("status")+`.includes("name is already taken")`)

	// A message over MaxMessageSize: the close reason in words.
	drive(t, b1, "send 70 KB", chromedp.Evaluate(`ws.send(JSON.stringify({text: "x".repeat(70000)})); true`, nil))
	waitFor(t, b1, "the close is explained", text("status")+`.includes("message too large")`)

	screenshot(t, a1, artifacts, "chat-"+strings.ReplaceAll(front, "/", "")+"-"+v.name+".png")

	// The server restarts: the page reconnects by itself.
	srv.stop()
	waitFor(t, a1, "the close is announced, with a reconnect", text("status")+`.includes("reconnecting in")`)
	srv.start()
	waitFor(t, a1, "ann is back in room A", text("status")+`.startsWith("In room A as ann")`)
	waitFor(t, a1, "the member list is back", text("members")+` === "ann"`)

	if n := srv.missing.Load(); n != 0 {
		t.Errorf("%d responses were 404 (a favicon?)", n)
	}
}

// artifactDir is where the browser tests keep their screenshots: the
// ARTIFACTS folder when it is set (CI prints it), a new temporary folder
// otherwise.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "sockets-screenshots-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves a full-page screenshot of the tab as name in dir.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	var png []byte
	drive(t, ctx, "screenshot", chromedp.FullScreenshot(&png, 100))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowserEcho: text and binary frames from the browser's own WebSocket
// client round-trip byte for byte through Messages() and
// ByteSliceMessages(), non-ASCII text and 60 KiB messages included.
func TestBrowserEcho(t *testing.T) {
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) { browserEcho(t, front) })
	}
}

func browserEcho(t *testing.T, front string) {
	ctx, _ := browser(t)
	quiet := log.New(io.Discard, "", 0)
	rooms := hub.New[*Message](hub.Options{Logger: quiet})
	defer rooms.Close()
	srv := httptest.NewServer(mustApp(t, context.Background(), rooms, front))
	defer srv.Close()

	var results []struct {
		Name  string
		OK    bool
		Frame string
		Bytes int
	}
	drive(t, ctx, "echo round trips", chromedp.Navigate(srv.URL+"/echo"),
		chromedp.Evaluate(`runEcho()`, &results, awaitPromise))
	if len(results) != 4 {
		t.Fatalf("results %+v", results)
	}
	for _, r := range results {
		if !r.OK {
			t.Errorf("%s: did not round-trip (came back as a %s frame)", r.Name, r.Frame)
		}
		t.Logf("%s: %d bytes as a %s frame, intact: %v", r.Name, r.Bytes, r.Frame, r.OK)
	}
	if results[1].Bytes < 60<<10-16 || results[3].Bytes != 60<<10 {
		t.Fatalf("the large messages were not 60 KiB: %+v", results)
	}
}
