package sockets

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-macaron/sockets/wschan"
)

// closeStressRuns is how many connections each close stress test makes.
const closeStressRuns = 200

// streamPayload is the i-th message a streaming handler sends: 16 KiB that
// say which message they are, so a lost, reordered or torn frame shows.
func streamPayload(i int) []byte {
	p := bytes.Repeat([]byte{byte(i)}, 16<<10)
	binary.BigEndian.PutUint64(p, uint64(i))
	return p
}

// checkStream checks that frames are the first messages of the stream, in
// order, byte for byte.
func checkStream(t *testing.T, frames []frame, payload func(int) []byte, opcode byte) {
	t.Helper()
	for i, f := range frames {
		if !f.fin || f.opcode != opcode || !bytes.Equal(f.payload, payload(i)) {
			t.Fatalf("data frame %d is %v, want message %d whole", i, f, i)
		}
	}
}

// streamer sends streamPayload(0), (1), ... until the connection ends.
func streamer(out chan<- []byte, done <-chan bool) {
	for i := 0; ; i++ {
		select {
		case out <- streamPayload(i):
		case <-done:
			return
		}
	}
}

// TestCloseWhileStreaming: a peer that sends a close frame while the server
// streams 16 KiB binary messages always gets the close frame back (RFC 6455
// 5.5.1), after every message the server wrote before it, byte for byte.
// Write batching is on, as it always is: the reply once sat in a batch the
// transport closed the socket under.
func TestCloseWhileStreaming(t *testing.T) {
	checkLeaks(t)
	o := testOptions(&logBuffer{})
	// The close record is read from the frames written (the write side
	// follows their boundaries through every batch): it must say the
	// echo, whatever streamed before it.
	records := make(chan wschan.CloseRecord, 1)
	o.Trace = &wschan.ConnTrace{Ended: func(c *Connection) {
		r, _ := c.CloseRecord()
		records <- r
	}}
	ts := serve(t, ByteSliceMessages(o), streamer)
	for run := range closeStressRuns {
		c := ts.rawDial()
		// Let a varying number of messages through first, so the close
		// lands at different points of a batch.
		for range run % 7 {
			if f, err := c.next(); err != nil || f.opcode != opBinary {
				t.Fatalf("run %d: %v %v", run, f, err)
			}
		}
		c.send(closeFrame(1000, "bye"))
		data, closing := c.untilClose()
		if code, reason := closing.closeCode(); code != 1000 || reason != "bye" {
			t.Fatalf("run %d: close %d %q, want the echo 1000 \"bye\"", run, code, reason)
		}
		checkStream(t, data, func(i int) []byte { return streamPayload(i + run%7) }, opBinary)
		ts.waitFinished()
		if r := <-records; r.SentCode != 1000 || r.SentReason != "bye" || r.ReceivedCode != 1000 {
			t.Fatalf("run %d: the close record %+v, want the echo 1000 \"bye\" it wrote", run, r)
		}
	}
}

// TestCloseAfterPipeline: 100 messages and a close frame in one TCP write.
// The server answers the close every time, after the echoes it wrote before
// it, in order and byte for byte.
func TestCloseAfterPipeline(t *testing.T) {
	checkLeaks(t)
	ts := serve(t, ByteSliceMessages(testOptions(&logBuffer{})), echo[[]byte])
	msg := func(i int) []byte { return binary.BigEndian.AppendUint32(bytes.Repeat([]byte{'p'}, 200), uint32(i)) }
	var burst []byte
	for i := range 100 {
		burst = append(burst, maskedFrame(opBinary, msg(i))...)
	}
	burst = append(burst, closeFrame(1000, "")...)
	for run := range closeStressRuns {
		c := ts.rawDial()
		c.send(burst)
		data, closing := c.untilClose()
		if code, _ := closing.closeCode(); code != 1000 {
			t.Fatalf("run %d: close %d, want 1000", run, code)
		}
		checkStream(t, data, msg, opBinary)
		ts.waitFinished()
	}
}

// TestHugeHostHeaders: requests with a Host header of nearly 1 MiB (what
// net/http's default MaxHeaderBytes admits) and many distinct Hosts leave
// nothing behind: the heap after GC grows by less than 1 MiB, and the log
// lines stay short. Each once cost a compiled regexp kept in a cache
// (about 47 MiB for a 1 MiB Host) and a 1 MiB log line.
func TestHugeHostHeaders(t *testing.T) {
	checkLeaks(t)
	for _, pattern := range []string{"", `^https?://{{host}}$`} {
		t.Run("pattern="+pattern, func(t *testing.T) {
			logs := &logBuffer{}
			o := testOptions(logs)
			o.AllowedOrigin = pattern
			ts := serve(t, Messages(o), holdUntilDone(nil))
			request := func(host string) {
				if s := upgradeStatus(ts, host, "http://evil.example"); s != http.StatusForbidden {
					t.Fatalf("status %d, want 403", s)
				}
			}
			request("warm.example") // net/http's and the test's own first-use state
			before := heapAfterGC()
			for i := range 6 {
				request(strings.Repeat(string(rune('a'+i)), 1<<20-1024))
			}
			for i := range 500 {
				request(fmt.Sprintf("host-%d.example", i))
			}
			if grown := heapAfterGC() - before; grown > 1<<20 {
				t.Fatalf("the heap grew by %d bytes after 506 rejected requests", grown)
			}
			for _, line := range logs.lines() {
				if len(line) > 1024 {
					t.Fatalf("a log line of %d bytes: %.200s...", len(line), line)
				}
			}
		})
	}
}

// heapAfterGC returns the live heap once garbage (and sync.Pool caches,
// which take two cycles) is collected.
func heapAfterGC() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestUserOriginPatterns: a user's AllowedOrigin is searched anywhere in the
// Origin, as the original did, so the configurations real programs have
// ("." to allow everyone, an unanchored host name) keep working; the
// handler's construction logs one Warning for each that is not anchored at
// both ends. The default pattern stays anchored (row 2.5).
func TestUserOriginPatterns(t *testing.T) {
	checkLeaks(t)
	cases := []struct {
		pattern string
		warns   bool
		allowed []string
		denied  []string
	}{
		{".", true, []string{"http://anything.example", "null"}, []string{""}},
		{".*", true, []string{"http://anything.example", ""}, nil},
		{`example\.com`, true, []string{"https://example.com", "https://www.example.com:8443", "http://notexample.com"}, []string{"https://example.org"}},
		{`http://{{host}}$`, true, []string{"http://HOST", "evil-http://HOST"}, []string{"http://HOST.evil"}},
		{`https?://{{host}}$`, false, []string{"http://HOST"}, []string{"evil-http://HOST"}}, // the default, spelt out
		{`^https?://{{host}}$`, false, []string{"http://HOST", "https://HOST"}, []string{"evil-http://HOST", "http://HOST.evil"}},
		{`^https://(www\.)?example\.com$|^http://{{host}}$`, false, []string{"https://example.com", "http://HOST"}, []string{"https://HOST"}},
	}
	for _, c := range cases {
		t.Run(c.pattern, func(t *testing.T) {
			logs := &logBuffer{}
			o := testOptions(logs)
			o.AllowedOrigin = c.pattern
			mw := Messages(o)
			warnings := strings.Count(logs.String(), "[Warning] AllowedOrigin")
			if want := map[bool]int{true: 1, false: 0}[c.warns]; warnings != want {
				t.Fatalf("%d construction warnings, want %d:\n%s", warnings, want, logs)
			}
			ts := serve(t, mw, holdUntilDone(nil))
			for _, want := range []struct {
				origins []string
				status  int
			}{{c.allowed, http.StatusSwitchingProtocols}, {c.denied, http.StatusForbidden}} {
				for _, origin := range want.origins {
					origin = strings.ReplaceAll(origin, "HOST", ts.host)
					if s := upgradeStatus(ts, "", origin); s != want.status {
						t.Errorf("origin %q: status %d, want %d", origin, s, want.status)
					}
				}
			}
		})
	}
}

// TestPingsWhileDeliveryHeld: while the handler holds back delivery (its
// receiver is full, so the read loop reads nothing, pongs included), a ping
// still goes out every PingPeriod. A ping once waited for its pong up to
// PongWait before the next could go: one ping per PongWait.
func TestPingsWhileDeliveryHeld(t *testing.T) {
	checkLeaks(t)
	o := testOptions(&logBuffer{})
	o.RecvChannelBuffer = 1
	o.PingPeriod = 50 * time.Millisecond
	o.PongWait = time.Minute
	ts := serve(t, Messages(o), func(done <-chan bool) { <-done })
	c := ts.rawDial()
	// One message fills the receiver, the next is held by the read loop.
	for range 3 {
		c.send(maskedFrame(opText, []byte("unread")))
	}
	const want = 5
	deadline := time.Now().Add(3 * time.Second) // 60 ping periods; one PongWait is a minute
	_ = c.conn.SetReadDeadline(deadline)
	for pings := 0; pings < want; {
		f, err := readFrame(c.br)
		if err != nil {
			t.Fatalf("%d pings, then %v; want %d pings, one per PingPeriod", pings, err, want)
		}
		if f.opcode == opPing {
			pings++
		}
	}
	_ = c.conn.Close()
	ts.waitFinished()
}

// TestOriginWarningWords: the Warning for an unanchored AllowedOrigin says
// what the pattern admits and gives an anchored pattern that, built into a
// handler, admits the Origins it is meant for (never one that locks every
// browser out); a request without an Origin is logged as that, with what
// to do.
func TestOriginWarningWords(t *testing.T) {
	checkLeaks(t)
	cases := []struct {
		pattern, admits, example string
		exampleAdmits            string // an Origin the example admits (HOST: the server's)
	}{
		{".", `any Origin containing a character`, `^https://(www\.)?example\.com$`, "https://www.example.com"},
		{".*", `every request, with any Origin header or none`, `^https://(www\.)?example\.com$`, "https://example.com"},
		{`example\.com`, `every Origin that contains a match anywhere`, `^https://(?:example\.com)$`, "https://example.com"},
		{`https://app\.example\.com`, `every Origin that contains a match anywhere`, `^(?:https://app\.example\.com)$`, "https://app.example.com"},
		{`http://{{host}}$`, `every Origin that contains a match anywhere`, `^https?://{{host}}$`, "http://HOST"},
	}
	for _, c := range cases {
		t.Run(c.pattern, func(t *testing.T) {
			logs := &logBuffer{}
			o := testOptions(logs)
			o.AllowedOrigin = c.pattern
			Messages(o)
			line := logs.String()
			if !strings.Contains(line, "it admits "+c.admits) || !strings.Contains(line, fmt.Sprintf("such as %q", c.example)) {
				t.Fatalf("warning:\n%s\nwant it to say it admits %q and to suggest %q", line, c.admits, c.example)
			}
			o = testOptions(&logBuffer{})
			o.AllowedOrigin = c.example
			ts := serve(t, Messages(o), holdUntilDone(nil))
			if s := upgradeStatus(ts, "", strings.ReplaceAll(c.exampleAdmits, "HOST", ts.host)); s != http.StatusSwitchingProtocols {
				t.Fatalf("the suggested %q refuses %q: %d", c.example, c.exampleAdmits, s)
			}
			if s := upgradeStatus(ts, "", "https://evil.example/?"+c.exampleAdmits); s != http.StatusForbidden {
				t.Fatalf("the suggested %q admits a look-alike: %d", c.example, s)
			}
		})
	}

	logs := &logBuffer{}
	ts := serve(t, Messages(testOptions(logs)), holdUntilDone(nil))
	if s := upgradeStatus(ts, "", ""); s != http.StatusForbidden {
		t.Fatalf("no Origin: %d, want 403", s)
	}
	if l := logs.String(); !strings.Contains(l, "Origin header missing: browsers send one; "+
		"other clients must send one, or set AllowedOrigin") || strings.Contains(l, `Origin "" is not allowed`) {
		t.Fatalf("log for a request without Origin:\n%s", l)
	}
}
