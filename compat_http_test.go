package sockets

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"gopkg.in/macaron.v1"
)

// holdUntilDone is a handler that waits for the end of the connection and
// reports it on ends, when ends is not nil.
func holdUntilDone(ends chan<- end) func(<-chan error, <-chan bool) {
	return func(errc <-chan error, done <-chan bool) {
		e := watchEnd(done, errc)
		if ends != nil {
			ends <- e
		}
	}
}

// calls counts the times a handler ran.
func calls(ch chan<- string) func(*macaron.Context) {
	return func(c *macaron.Context) { ch <- c.Req.Method }
}

func rowMethodNotAllowed(t *testing.T) {
	logs := &logBuffer{}
	called := make(chan string, 8)
	ts := serve(t, Messages(testOptions(logs)), calls(called))
	for _, method := range []string{"POST", "PUT", "OPTIONS"} {
		// The method is checked first: a foreign Origin and no upgrade
		// headers still get 405.
		for _, h := range []http.Header{upgradeHeaders("http://" + ts.host), upgradeHeaders("http://evil.example"), {}} {
			r := ts.raw(method, "", h, nil)
			checkRejected(t, r, http.StatusMethodNotAllowed, "Method not allowed")
			if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Fatalf("%s: Content-Type %q", method, ct)
			}
		}
	}
	r := ts.raw("HEAD", "", upgradeHeaders("http://"+ts.host), nil)
	checkRejected(t, r, http.StatusMethodNotAllowed, "")
	if len(called) != 0 {
		t.Fatalf("the next handler ran for %d rejected requests", len(called))
	}
	if !strings.Contains(logs.String(), "[Warning] [127.0.0.1:") || !strings.Contains(logs.String(), "] Method POST is not allowed") {
		t.Fatalf("no Warning line for the rejected method in:\n%s", logs)
	}
}

func rowPostToGetRoute(t *testing.T) {
	ran := make(chan struct{}, 1)
	m := macaron.New()
	m.Get("/ws", func() { ran <- struct{}{} }, Messages(testOptions(&logBuffer{})))
	srv := httptest.NewServer(m)
	defer srv.Close()
	ts := &testServer{t: t, host: strings.TrimPrefix(srv.URL, "http://")}
	r := ts.raw("POST", "", upgradeHeaders("http://"+ts.host), nil)
	if r.status != http.StatusNotFound || r.body != "404 page not found\n" {
		t.Fatalf("got %d %q, want Macaron's 404", r.status, r.body)
	}
	if len(ran) != 0 {
		t.Fatal("a handler of the route ran")
	}
}

func rowNotUpgrade(t *testing.T) {
	called := make(chan string, 8)
	ts := serve(t, Messages(testOptions(&logBuffer{})), calls(called))
	origin := "http://" + ts.host

	plain := ts.raw("GET", "", http.Header{"Origin": {origin}}, nil)
	checkRejected(t, plain, http.StatusBadRequest, errNoConnectionUpgrade)
	if ct := plain.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}

	h := upgradeHeaders(origin)
	h.Del("Upgrade")
	checkRejected(t, ts.raw("GET", "", h, nil), http.StatusBadRequest, errNoUpgradeWebsocket)

	// Origin is checked before the handshake.
	checkRejected(t, ts.raw("GET", "", http.Header{}, nil), http.StatusForbidden, "Origin not allowed")
	if len(called) != 0 {
		t.Fatal("the next handler ran for a rejected request")
	}
}

func rowBadVersion(t *testing.T) {
	ts := serve(t, Messages(testOptions(&logBuffer{})), holdUntilDone(nil))
	for _, v := range []string{"8", ""} {
		h := upgradeHeaders("http://" + ts.host)
		if v == "" {
			h.Del("Sec-WebSocket-Version")
		} else {
			h.Set("Sec-WebSocket-Version", v)
		}
		r := ts.raw("GET", "", h, nil)
		checkRejected(t, r, http.StatusBadRequest, errBadVersion, "Sec-Websocket-Version")
		if got := r.header.Get("Sec-WebSocket-Version"); got != "13" {
			t.Fatalf("version %q: Sec-WebSocket-Version %q, want 13", v, got)
		}
	}
}

func rowBadKey(t *testing.T) {
	ts := serve(t, Messages(testOptions(&logBuffer{})), holdUntilDone(nil))
	for _, key := range []string{"abc", ""} {
		h := upgradeHeaders("http://" + ts.host)
		if key == "" {
			h.Del("Sec-WebSocket-Key")
		} else {
			h.Set("Sec-WebSocket-Key", key)
		}
		checkRejected(t, ts.raw("GET", "", h, nil), http.StatusBadRequest, errBadKey)
	}
}

// leakyMiddleware sets on the response what real middleware sets before a
// WebSocket route: a session cookie, gzip's headers and CORS headers.
func leakyMiddleware(c *macaron.Context) {
	h := c.Resp.Header()
	h.Set("Set-Cookie", "session=abc; Path=/")
	h.Set("Content-Encoding", "gzip")
	h.Set("Vary", "Accept-Encoding")
	h.Set("Access-Control-Allow-Origin", "*")
}

func rowNoNegotiation(t *testing.T) {
	ends := make(chan end, 1)
	ts := serve(t, leakyMiddleware, Messages(testOptions(&logBuffer{})), holdUntilDone(ends))
	h := upgradeHeaders("http://" + ts.host)
	h.Set("Sec-WebSocket-Protocol", "chat, superchat")
	h.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	r := ts.raw("GET", "", h, nil)
	if r.status != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", r.status)
	}
	var names []string
	for k := range r.header {
		names = append(names, k)
	}
	sort.Strings(names)
	if got := strings.Join(names, ","); got != "Connection,Sec-Websocket-Accept,Upgrade" {
		t.Fatalf("101 headers %q, want only Connection, Sec-WebSocket-Accept and Upgrade: %v", got, r.header)
	}
	if r.header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
		!strings.EqualFold(r.header.Get("Upgrade"), "websocket") || !strings.EqualFold(r.header.Get("Connection"), "Upgrade") {
		t.Fatalf("handshake headers %v", r.header)
	}
	_ = r.conn.Close()
	recv(t, ends, "the end")
}

func rowEarlyFrame(t *testing.T) {
	got := make(chan string, 1)
	ts := serve(t, Messages(testOptions(&logBuffer{})), func(in <-chan string, done <-chan bool) {
		select {
		case m := <-in:
			got <- m
		case <-done:
			return
		}
		<-done
	})
	r := ts.raw("GET", "", upgradeHeaders("http://"+ts.host), maskedFrame(0x1, []byte("early")))
	if r.status != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", r.status)
	}
	if m := recv(t, got, "the early message"); m != "early" {
		t.Fatalf("first message %q, want \"early\"", m)
	}
	_ = r.conn.Close()
	ts.waitFinished()
}

func rowNoOrigin(t *testing.T) {
	ts := serve(t, Messages(testOptions(&logBuffer{})), holdUntilDone(nil))
	checkRejected(t, ts.raw("GET", "", upgradeHeaders(""), nil), http.StatusForbidden, "Origin not allowed")
}

func rowSameOrigin(t *testing.T) {
	ends := make(chan end, 2)
	ts := serve(t, Messages(testOptions(&logBuffer{})), holdUntilDone(ends))
	for _, origin := range []string{"http://" + ts.host, "https://" + ts.host} {
		r := ts.raw("GET", "", upgradeHeaders(origin), nil)
		if r.status != http.StatusSwitchingProtocols {
			t.Fatalf("origin %s: status %d, want 101", origin, r.status)
		}
		_ = r.conn.Close()
		recv(t, ends, "the end")
	}
}

func rowForeignOrigins(t *testing.T) {
	ts := serve(t, Messages(testOptions(&logBuffer{})), holdUntilDone(nil))
	hostOnly := strings.Split(ts.host, ":")[0]
	for _, origin := range []string{
		"ws://" + ts.host, "http://" + hostOnly, "HTTP://" + ts.host, "http://" + ts.host + "/",
		"http://other.example", "null", "http://" + ts.host + ".evil.example",
	} {
		checkRejected(t, ts.raw("GET", "", upgradeHeaders(origin), nil), http.StatusForbidden, "Origin not allowed")
	}
}

// upgradeStatus returns the status of a handshake with host and origin, and
// closes the connection if it was upgraded.
func upgradeStatus(ts *testServer, host, origin string) int {
	r := ts.raw("GET", host, upgradeHeaders(origin), nil)
	if r.conn != nil {
		_ = r.conn.Close()
	}
	return r.status
}

func rowQuotedHost(t *testing.T) {
	ts := serve(t, Messages(testOptions(&logBuffer{})), holdUntilDone(nil))
	if s := upgradeStatus(ts, "my.site.com", "http://myxsite.com"); s != http.StatusForbidden {
		t.Fatalf("look-alike origin: status %d, want 403", s)
	}
	if s := upgradeStatus(ts, "my.site.com", "http://my.site.com"); s != http.StatusSwitchingProtocols {
		t.Fatalf("own origin: status %d, want 101", s)
	}
}

func rowAnchoredOrigin(t *testing.T) {
	ts := serve(t, Messages(testOptions(&logBuffer{})), holdUntilDone(nil))
	for _, origin := range []string{"evil-http://" + ts.host, "http://evil.example/?x=http://" + ts.host} {
		if s := upgradeStatus(ts, "", origin); s != http.StatusForbidden {
			t.Fatalf("origin %s: status %d, want 403", origin, s)
		}
	}
}

func rowMetaHost(t *testing.T) {
	ts := serve(t, Messages(testOptions(&logBuffer{})), holdUntilDone(nil))
	if s := upgradeStatus(ts, "a(b", "http://a(b"); s != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", s)
	}
	if s := upgradeStatus(ts, "a(b", "http://aab"); s != http.StatusForbidden {
		t.Fatalf("status %d, want 403", s)
	}
}

func rowCustomOrigin(t *testing.T) {
	cases := []struct {
		pattern, host, origin string
		want                  int
	}{
		{`https?://allowed\.com$`, "", "http://allowed.com", 101},
		{`https?://allowed\.com$`, "", "", 403},
		{`https?://allowed\.com$`, "", "http://HOST", 403},
		{`.*`, "", "", 101},
		{`^https://{{host}}$`, "", "https://HOST", 101},
		{`^https://{{host}}$`, "", "http://HOST", 403},
		{`http://{{foo}}`, "", "http://HOST", 101},
	}
	for _, c := range cases {
		o := testOptions(&logBuffer{})
		o.AllowedOrigin = c.pattern
		t.Run(c.pattern, func(t *testing.T) {
			ts := serve(t, Messages(o), holdUntilDone(nil))
			origin := strings.ReplaceAll(c.origin, "HOST", ts.host)
			if s := upgradeStatus(ts, c.host, origin); s != c.want {
				t.Fatalf("pattern %s, origin %q: status %d, want %d", c.pattern, origin, s, c.want)
			}
		})
	}
}

// mustPanic runs f and returns its panic message, failing when it does not
// panic.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		msg, _ = r.(string)
	}()
	f()
	return ""
}

func rowInvalidOriginPattern(t *testing.T) {
	msg := mustPanic(t, func() { Messages(&Options{AllowedOrigin: "("}) })
	if !strings.Contains(msg, "invalid AllowedOrigin") {
		t.Fatalf("panic %q does not name the option", msg)
	}
}

func rowOriginLogLine(t *testing.T) {
	logs := &logBuffer{}
	ts := serve(t, Messages(testOptions(logs)), holdUntilDone(nil))
	upgradeStatus(ts, "", "http://evil.example")
	if !strings.Contains(logs.String(), `[Warning] [127.0.0.1:`) || !strings.Contains(logs.String(), `Origin "http://evil.example" is not allowed`) {
		t.Fatalf("no Warning line naming the Origin in:\n%s", logs)
	}
}

func rowCrossOrigin(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.AllowedOrigin = `https?://allowed\.example$`
	ts := serve(t, Messages(o), holdUntilDone(nil))
	if s := upgradeStatus(ts, "", "https://allowed.example"); s != http.StatusSwitchingProtocols {
		t.Fatalf("allowed cross origin: status %d, want 101", s)
	}
	if s := upgradeStatus(ts, "", "https://denied.example"); s != http.StatusForbidden {
		t.Fatalf("disallowed cross origin: status %d, want 403", s)
	}
	if s := upgradeStatus(ts, "", "http://"+ts.host); s != http.StatusForbidden {
		t.Fatalf("own origin under a custom pattern: status %d, want 403", s)
	}
}

// The reasons of the 400s, word for word the original's (gorilla's).
const (
	errNoConnectionUpgrade = "websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header"
	errNoUpgradeWebsocket  = "websocket: the client is not using the websocket protocol: 'websocket' token not found in 'Upgrade' header"
	errBadVersion          = "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header"
	errBadKey              = "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length"
)
