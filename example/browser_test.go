package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
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
	sockets sync.Map // request path -> the hijacked net.Conn of its last WebSocket
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
		r.app.ServeHTTP(&statusRecorder{ResponseWriter: w, missing: &r.missing, path: req.URL.Path, sockets: &r.sockets}, req)
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

// cut closes the TCP connection of the last WebSocket served at path, as
// a network that fails does: no close frame either way.
func (r *restartable) cut(path string) {
	c, ok := r.sockets.Load(path)
	if !ok {
		r.t.Fatalf("no WebSocket at %s to cut", path)
	}
	_ = c.(net.Conn).Close()
}

// statusRecorder counts 404 responses; it lets the hijack through, and
// keeps the hijacked connection by path.
type statusRecorder struct {
	http.ResponseWriter
	missing *atomic.Int64
	path    string
	sockets *sync.Map
}

func (s *statusRecorder) WriteHeader(code int) {
	if code == http.StatusNotFound {
		s.missing.Add(1)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil {
		s.sockets.Store(s.path, c)
	}
	return c, brw, err
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

// inEveryBrowserView runs f on both fronts in every viewport, each a
// subtest, with the directory its screenshots go to.
func inEveryBrowserView(t *testing.T, f func(t *testing.T, front string, v viewport, artifacts string)) {
	artifacts := artifactDir(t)
	for _, front := range fronts {
		for _, v := range viewports {
			t.Run(front+"/"+v.name, func(t *testing.T) { f(t, front, v, artifacts) })
		}
	}
}

// TestBrowserChat drives the chat page in headless Chromium tabs (one
// browser each), on a desktop and on a phone-sized viewport, on both
// fronts: two users in room A, one in room B, a late joiner, and each
// promise of the page: the join form out of the way once joined, a layout
// that uses the viewport (the log fills the height; on a phone the member
// list folds above the log, never between it and the input), labels, no
// horizontal overflow, long words wrapped, timestamps, one's own messages
// set apart, the room's last messages for a late joiner, leaving, names
// taken once per room, close reasons in words, a reconnect after the
// server restarts (marked in the log), the echo console linked, and no
// 404 (favicon included). Screenshots are kept as test artifacts.
func TestBrowserChat(t *testing.T) {
	inEveryBrowserView(t, browserChat)
}

// checkLayout checks what every view of the chat promises on v.
func checkLayout(t *testing.T, ctx context.Context, v viewport) {
	t.Helper()
	if !evalBool(t, ctx, "no horizontal overflow", `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Errorf("the page is wider than the %s viewport", v.name)
	}
	for _, id := range []string{"send", "leave", "text"} {
		if !evalBool(t, ctx, id+" visible", visible(id)) {
			t.Errorf("#%s is hidden or cut off on the %s viewport", id, v.name)
		}
	}
	if !evalBool(t, ctx, "the join form is out of the way", `document.getElementById("join").offsetParent === null`) {
		t.Error("the join form still shows once joined")
	}
	box := func(id string) string { return `document.getElementById("` + id + `").getBoundingClientRect()` }
	// The log takes the height the window has; the input sits right
	// under it.
	if !evalBool(t, ctx, "the log fills the height", `(() => { const l = `+box("log")+`, s = `+box("say")+`;
		return l.height >= 0.4 * window.innerHeight && s.top >= l.bottom - 1 && s.top - l.bottom < 24 &&
			s.bottom <= window.innerHeight + 1; })()`) {
		t.Errorf("on the %s viewport the log does not fill the window above the input", v.name)
	}
	if v.mobile {
		if !evalBool(t, ctx, "members above the log", `(() => { const m = `+box("membersBox")+`, l = `+box("log")+`;
			return m.bottom <= l.top + 1 && !document.getElementById("membersBox").open; })()`) {
			t.Error("on a phone the member list is not folded above the log")
		}
	} else if !evalBool(t, ctx, "members beside the log", `(() => { const m = `+box("membersBox")+`, l = `+box("log")+`;
		return m.left >= l.right - 1 && m.width > 0; })()`) {
		t.Error("on a desktop the member list is not beside the log")
	}
}

// visible is the JavaScript for: the element is shown, inside the viewport.
func visible(id string) string {
	return `(() => { const e = document.getElementById("` + id + `"); if (!e || e.offsetParent === null) return false;
		const r = e.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth &&
		r.top >= 0 && r.bottom <= window.innerHeight; })()`
}

// lastLine is the JavaScript for the class and text of the log's last line
// whose text contains s, as "class|text".
func lastLine(s string) string {
	return `(() => { const ps = [...document.querySelectorAll("#log p")].filter(p => p.textContent.includes(` + quoteJS(s) + `));
		const p = ps[ps.length - 1]; return p ? p.className + "|" + p.textContent : ""; })()`
}

// evalString evaluates a JavaScript expression that yields a string.
func evalString(t *testing.T, ctx context.Context, what, js string) string {
	t.Helper()
	var s string
	drive(t, ctx, what, chromedp.Evaluate(js, &s))
	return s
}

func browserChat(t *testing.T, front string, v viewport, artifacts string) {
	rooms := hub.New[*Message](hub.Options{Logger: log.New(io.Discard, "", 0), History: historyKept})
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

	// Before joining: the form, labelled, in view.
	drive(t, a1, "open the page", chromedp.Navigate(srv.url()))
	if !evalBool(t, a1, "viewport meta", `!!document.querySelector('meta[name=viewport]')`) {
		t.Error("no viewport meta")
	}
	if !evalBool(t, a1, "labels", `[...document.querySelectorAll("input")].every(i => i.labels && i.labels.length > 0)`) {
		t.Error("an input has no label")
	}
	if !evalBool(t, a1, "join button visible", visible("joinButton")) {
		t.Errorf("#joinButton is cut off on the %s viewport", v.name)
	}
	if !evalBool(t, a1, "echo link", `!!document.querySelector('a[href="/echo"]')`) {
		t.Error("the echo console is not linked")
	}
	joinRoom(t, a1, srv.url(), "A", "ann")
	checkLayout(t, a1, v)
	if s := evalString(t, a1, "where", text("where")); !strings.Contains(s, "Room A as ann") {
		t.Errorf("the header says %q, want the room and the name", s)
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
	if s := evalString(t, a1, "member count", text("count")); s != "2" {
		t.Errorf("the member count says %q, want 2", s)
	}

	// Timestamps, and one's own messages set apart.
	say(t, a1, "hello from ann")
	waitLog(t, a2, "ann: hello from ann")
	waitLog(t, a1, "ann: hello from ann")
	stamp := regexp.MustCompile(`^msg( mine)?\|\d{1,2}\D\d{2}.*ann: hello from ann$`)
	if s := evalString(t, a1, "ann's line at ann", lastLine("hello from ann")); !stamp.MatchString(s) || !strings.HasPrefix(s, "msg mine|") {
		t.Errorf("ann sees her own message as %q, want it timestamped and marked as hers", s)
	}
	if s := evalString(t, a2, "ann's line at bob", lastLine("hello from ann")); !stamp.MatchString(s) || strings.Contains(s, "mine") {
		t.Errorf("bob sees ann's message as %q, want it timestamped and not marked as his", s)
	}
	if !evalBool(t, a2, "times are machine-readable", `[...document.querySelectorAll("#log p.msg, #log p.event")].every(p => {
		const t = p.querySelector("time"); return t && !isNaN(Date.parse(t.dateTime)); })`) {
		t.Error("a line of the log has no time with a datetime")
	}

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

	// A late joiner sees what was said before it came, once.
	late, closeLate := tab()
	joinRoom(t, late, srv.url(), "A", "dan")
	waitLog(t, late, "ann: hello from ann")
	waitLog(t, late, "Earlier messages above")
	if s := evalString(t, late, "history line", lastLine("hello from ann")); !strings.HasPrefix(s, "msg old|") {
		t.Errorf("the late joiner sees the earlier message as %q, want it marked as earlier", s)
	}
	if n := strings.Count(logText(t, late), "hello from ann"); n != 1 {
		t.Errorf("the late joiner sees the earlier message %d times", n)
	}
	screenshot(t, late, artifacts, "chat-late-joiner-"+strings.ReplaceAll(front, "/", "")+"-"+v.name+".png")
	closeLate()
	waitLog(t, a1, "dan left")

	// Leaving: the others hear of it, the form comes back.
	drive(t, a2, "bob leaves", chromedp.Click("#leave", chromedp.ByID))
	waitLog(t, a1, "bob left")
	waitFor(t, a1, "bob gone from the member list", text("members")+` === "ann"`)
	waitFor(t, a2, "the form is back", `document.getElementById("join").offsetParent !== null && `+text("status")+` === "You left room A."`)
	closeA2()

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
	waitFor(t, dup, "the name is refused", text("status")+` === "That name is already taken in this room."`+
		` && document.getElementById("join").offsetParent !== null`)

	// A message over MaxMessageSize: the close reason in words.
	drive(t, b1, "send 70 KB", chromedp.Evaluate(`ws.send(JSON.stringify({text: "x".repeat(70000)})); true`, nil))
	waitFor(t, b1, "the close is explained", text("status")+`.startsWith("Message too large")`)

	screenshot(t, a1, artifacts, "chat-"+strings.ReplaceAll(front, "/", "")+"-"+v.name+".png")

	// The server restarts: the page reconnects by itself, and says so in
	// the log.
	srv.stop()
	waitFor(t, a1, "the close is announced, with a reconnect", text("status")+`.includes("reconnecting in")`)
	waitLog(t, a1, "Connection lost")
	srv.start()
	waitFor(t, a1, "ann is back in room A", text("status")+`.startsWith("In room A as ann")`)
	waitLog(t, a1, "Reconnected")
	waitFor(t, a1, "the member list is back", text("members")+` === "ann"`)
	if n := strings.Count(logText(t, a1), "hello from ann"); n != 1 {
		t.Errorf("after the reconnect ann sees her message %d times", n)
	}
	screenshot(t, a1, artifacts, "chat-reconnected-"+strings.ReplaceAll(front, "/", "")+"-"+v.name+".png")

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
// ByteSliceMessages(), non-ASCII text and 60 KiB messages included; and
// the echo console, on both viewports, in the light and the dark scheme:
// each frame sent shows how it came back and its round trip, and a close
// shows its code and reason in words.
func TestBrowserEcho(t *testing.T) {
	inEveryBrowserView(t, browserEcho)
}

func browserEcho(t *testing.T, front string, v viewport, artifacts string) {
	ctx, _ := browser(t)
	quiet := log.New(io.Discard, "", 0)
	rooms := hub.New[*Message](hub.Options{Logger: quiet, History: historyKept})
	defer rooms.Close()
	srv := httptest.NewServer(mustApp(t, context.Background(), rooms, front))
	defer srv.Close()

	var results []struct {
		Name  string
		OK    bool
		Frame string
		Bytes int
	}
	drive(t, ctx, "echo round trips", v.emulate(), chromedp.Navigate(srv.URL+"/echo"),
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

	// The console: a text frame to Messages(), a binary one to
	// ByteSliceMessages(), each shown with its round trip.
	row := func(n int) string {
		return `(() => { const r = document.querySelectorAll("#frames tr"); const tr = r[r.length - ` + fmt.Sprint(n) + `];
			return tr ? tr.className + "|" + [...tr.cells].map(c => c.textContent).join("|") : ""; })()`
	}
	drive(t, ctx, "connect to /echo/text", chromedp.Click("#open", chromedp.ByID), chromedp.WaitEnabled("#sendText", chromedp.ByID),
		chromedp.SetValue("#data", "héllo ✓", chromedp.ByID), chromedp.Click("#sendText", chromedp.ByID))
	waitFor(t, ctx, "the text frame came back", row(1)+`.startsWith("good|")`)
	if s := evalString(t, ctx, "text row", row(1)); !regexp.MustCompile(`^good\|1\|text\|text, identical\|10\|\d+\.\d ms`).MatchString(s) {
		t.Errorf("the text frame's row is %q", s)
	}
	drive(t, ctx, "connect to /echo/bytes", chromedp.SetValue("#endpoint", "/echo/bytes", chromedp.ByID),
		chromedp.Click("#open", chromedp.ByID), chromedp.WaitEnabled("#sendBinary", chromedp.ByID))
	waitFor(t, ctx, "connected to /echo/bytes", text("state")+` === "Connected to /echo/bytes."`)
	drive(t, ctx, "send binary", chromedp.Click("#sendBinary", chromedp.ByID))
	waitFor(t, ctx, "the binary frame came back", `document.querySelectorAll("#frames tr").length === 2 && `+
		`document.querySelector("#frames tr").className === "good"`)
	if s := evalString(t, ctx, "binary row", `[...document.querySelector("#frames tr").cells].map(c => c.textContent).join("|")`); !strings.HasPrefix(s, "2|binary|binary, identical|10|") {
		t.Errorf("the binary frame's row is %q", s)
	}
	if !evalBool(t, ctx, "no horizontal overflow", `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Errorf("the console is wider than the %s viewport", v.name)
	}
	drive(t, ctx, "close with 4000", chromedp.SetValue("#code", "4000", chromedp.ByID),
		chromedp.SetValue("#reason", "done", chromedp.ByID), chromedp.Click("#closeButton", chromedp.ByID))
	waitFor(t, ctx, "the close in words", text("state")+` === "Closed: 4000 (application's own code) with the reason “done”."`)
	screenshot(t, ctx, artifacts, "echo-"+strings.ReplaceAll(front, "/", "")+"-"+v.name+".png")

	// The dark scheme: a dark background behind light text.
	drive(t, ctx, "prefer dark", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{
		{Name: "prefers-color-scheme", Value: "dark"}}))
	luminance := `(c => { const [r, g, b] = c.match(/\d+/g).map(Number); return (0.2126*r + 0.7152*g + 0.0722*b) / 255; })`
	if !evalBool(t, ctx, "dark", luminance+`(getComputedStyle(document.body).backgroundColor) < 0.2 && `+
		luminance+`(getComputedStyle(document.body).color) > 0.8`) {
		t.Error("the console has no dark scheme")
	}
	screenshot(t, ctx, artifacts, "echo-dark-"+strings.ReplaceAll(front, "/", "")+"-"+v.name+".png")
}

// TestBrowserResume: a page whose socket the network cuts while the room
// goes on talking reconnects by itself, resumes from the last message it
// showed, says how many it missed and shows every message once, in order;
// after a gap longer than the room's history it says it could not recover
// and reloads the room's last messages instead. Both fronts, every
// viewport.
func TestBrowserResume(t *testing.T) {
	inEveryBrowserView(t, browserResume)
}

func browserResume(t *testing.T, front string, v viewport, artifacts string) {
	rooms := hub.New[*Message](hub.Options{Logger: log.New(io.Discard, "", 0), History: 8})
	defer rooms.Close()
	srv := newRestartable(t, rooms, front)
	tab := func() context.Context {
		ctx, _ := browser(t)
		drive(t, ctx, "set the viewport", v.emulate())
		return ctx
	}
	ann, bob := tab(), tab()
	joinRoom(t, ann, srv.url(), "R", "ann")
	joinRoom(t, bob, srv.url(), "R", "bob")
	waitLog(t, ann, "bob joined")
	say(t, ann, "before the cut")
	waitLog(t, bob, "ann: before the cut")

	// The network cuts ann's socket; the room goes on meanwhile.
	srv.cut("/sockets/rooms/R/ann")
	said := []string{"one", "two", "three"}
	for _, text := range said {
		rooms.Broadcast("R", &Message{Type: "message", From: "bob", Text: text, At: now()})
	}
	awaitResumed(t, ann, "after resuming ann")
	screenshot(t, ann, artifacts, "chat-resumed-"+strings.ReplaceAll(front, "/", "")+"-"+v.name+".png")

	// A gap longer than the room's history (8 broadcasts): reloaded.
	waitFor(t, ann, "ann is back in room R", text("status")+`.startsWith("In room R as ann")`)
	srv.cut("/sockets/rooms/R/ann")
	for i := range 12 {
		rooms.Broadcast("R", &Message{Type: "message", From: "bob", Text: fmt.Sprintf("later %d", i), At: now()})
	}
	waitLog(t, ann, "Could not recover everything: reloaded")
	waitLog(t, ann, "bob: later 11")
	log := logText(t, ann)
	if strings.Contains(log, "bob: one") || strings.Count(log, "bob: later 11") != 1 {
		t.Errorf("after the reload ann's log is not the room's last messages, once:\n%s", log)
	}
	screenshot(t, ann, artifacts, "chat-reloaded-"+strings.ReplaceAll(front, "/", "")+"-"+v.name+".png")
}

// awaitResumed waits until ann's page has resumed after bob said "one",
// "two" and "three" while it was away, and checks that its log shows
// each message once, in order, the count of missed ones at the seam.
func awaitResumed(t *testing.T, ann context.Context, who string) {
	t.Helper()
	waitLog(t, ann, "while you were away")
	waitLog(t, ann, "bob: three")
	waitFor(t, ann, "ann and bob listed", text("members")+` === "annbob"`)
	onceInOrder(t, who, logText(t, ann),
		"ann: before the cut", "Reconnected", "messages while you were away", "bob: one", "bob: two", "bob: three")
}

// onceInOrder checks that log holds each of texts once, in that order.
func onceInOrder(t *testing.T, who, log string, texts ...string) {
	t.Helper()
	at := -1
	for _, text := range texts {
		if n := strings.Count(log, text); n != 1 {
			t.Errorf("%s sees %q %d times, want once:\n%s", who, text, n, log)
		}
		i := strings.Index(log, text)
		if i < at {
			t.Errorf("%s sees %q out of order:\n%s", who, text, log)
		}
		at = i
	}
}
