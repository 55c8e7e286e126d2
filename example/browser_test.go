package main

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
		chromedp.Click("#join button", chromedp.ByQuery),
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

// TestBrowserChat drives the chat page in three headless Chromium tabs (one
// browser each): two in room A, one in room B.
func TestBrowserChat(t *testing.T) {
	quiet := log.New(io.Discard, "", 0)
	rooms := hub.New[*Message](hub.Options{Logger: quiet})
	defer rooms.Close()
	sockets, closeSockets := context.WithCancel(context.Background())
	defer closeSockets()
	srv := httptest.NewServer(newApp(sockets, quiet, rooms))
	defer srv.Close()

	a1, _ := browser(t)
	a2, closeA2 := browser(t)
	b1, _ := browser(t)
	joinRoom(t, a1, srv.URL, "A", "ann")
	joinRoom(t, a2, srv.URL, "A", "bob")
	joinRoom(t, b1, srv.URL, "B", "cid")
	waitLog(t, a1, "bob joined")

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

	closeA2() // closing the tab (and its browser) closes its WebSocket
	waitLog(t, a1, "bob left")

	// Room B heard nothing of room A.
	say(t, b1, "anyone in B?")
	waitLog(t, b1, "cid: anyone in B?")
	if s := logText(t, b1); strings.Contains(s, "ann") || strings.Contains(s, "bob") {
		t.Fatalf("room B saw room A: %q", s)
	}

	var png []byte
	drive(t, a1, "screenshot", chromedp.FullScreenshot(&png, 100))
	dir, err := os.MkdirTemp("", "sockets-chat-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "chat.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the chat after the exchange: %s", path)
}

// TestBrowserEcho: text and binary frames from the browser's own WebSocket
// client round-trip byte for byte through Messages() and
// ByteSliceMessages(), non-ASCII text and 60 KiB messages included.
func TestBrowserEcho(t *testing.T) {
	ctx, _ := browser(t)
	quiet := log.New(io.Discard, "", 0)
	rooms := hub.New[*Message](hub.Options{Logger: quiet})
	defer rooms.Close()
	srv := httptest.NewServer(newApp(context.Background(), quiet, rooms))
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
