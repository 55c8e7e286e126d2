package sockets

import (
	"bytes"
	"compress/flate"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// deflateDial opens a raw client that offers permessage-deflate without
// context takeover, and returns it with the 101's extension header.
func deflateDial(t *testing.T, ts *testServer) (*rawClient, string) {
	t.Helper()
	h := upgradeHeaders("http://" + ts.host)
	h.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_no_context_takeover; server_no_context_takeover")
	r := ts.raw("GET", "", h, nil)
	if r.status != 101 {
		t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	return &rawClient{t: t, conn: r.conn, br: r.br}, r.header.Get("Sec-WebSocket-Extensions")
}

// deflate compresses p as one permessage-deflate message (RFC 7692 7.2.1:
// the final empty block's 00 00 ff ff removed).
func deflate(t *testing.T, p []byte) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// inflate undoes deflate.
func inflate(t *testing.T, p []byte) []byte {
	out, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))))
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// TestCompression: with Options.Compression, permessage-deflate is
// negotiated without context takeover; a message over the threshold goes
// out compressed in a single frame, a small one as it is; compressed
// messages from the client are read; the Connection says so.
func TestCompression(t *testing.T) {
	checkLeaks(t)
	o := testOptions(&logBuffer{})
	o.Compression = true
	compressed := make(chan bool, 1)
	ts := serve(t, Messages(o), func(in <-chan string, out chan<- string, done <-chan bool, c *Connection) {
		compressed <- c.Compressed()
		echo(in, out, done)
	})
	c, ext := deflateDial(t, ts)
	if !strings.HasPrefix(ext, "permessage-deflate") || !strings.Contains(ext, "server_no_context_takeover") {
		t.Fatalf("101 extensions %q", ext)
	}
	if !<-compressed {
		t.Fatal("Connection.Compressed is false")
	}
	big := strings.Repeat("compress me please ", 1000) // 19 000 bytes
	c.send(spec{fin: true, rsv: 4, opcode: opText, payload: deflate(t, []byte(big))}.build())
	f, err := c.next()
	if err != nil {
		t.Fatal(err)
	}
	if !f.fin || f.rsv != 4 || f.opcode != opText || len(f.payload) >= len(big)/4 {
		t.Fatalf("echo of %d bytes: %v rsv %d; want one compressed frame", len(big), f, f.rsv)
	}
	if got := inflate(t, f.payload); string(got) != big {
		t.Fatalf("the echo inflates to %d bytes, want the %d sent", len(got), len(big))
	}
	c.send(text("small"))
	if f, err = c.next(); err != nil || f.rsv != 0 || string(f.payload) != "small" {
		t.Fatalf("small echo %v rsv %d (%v): want it uncompressed", f, f.rsv, err)
	}
	c.send(closeFrame(1000, ""))
	c.untilClose()
	ts.waitFinished()
}

// TestDecompressionBomb: 10 MiB of zeros deflated to a few KiB, with
// MaxMessageSize 64 KiB: close 1009, and the server never inflates past the
// limit (it allocates far less than the bomb's size).
func TestDecompressionBomb(t *testing.T) {
	checkLeaks(t)
	o := testOptions(&logBuffer{})
	o.Compression = true
	// Nothing here waits on the peer's silence: however slow the machine,
	// the bomb arrives long before PongWait.
	o.PongWait, o.PingPeriod = time.Minute, 30*time.Second
	// Made before the connection exists: deflating 10 MiB takes seconds
	// under -race on a busy machine.
	bomb := deflate(t, make([]byte, 10<<20))
	p := newProbe[string]()
	ts := serve(t, Messages(o), p.handler)
	c, _ := deflateDial(t, ts)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c.send(spec{fin: true, rsv: 4, opcode: opBinary, payload: bomb}.build())
	_, closing := c.untilClose()
	runtime.ReadMemStats(&after)
	if code, _ := closing.closeCode(); code != 1009 {
		t.Fatalf("close %d for a %d-byte bomb, want 1009", code, len(bomb))
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 4<<20 {
		t.Fatalf("the server allocated %d bytes for a bomb of 10 MiB with a 64 KiB limit", grown)
	}
	if e := p.end(t); e.err == nil || len(p.got) != 0 {
		t.Fatalf("end %+v, %d delivered: want the size error and nothing delivered", e, len(p.got))
	}
}

// TestCloseWhileStreamingCompressed: TestCloseWhileStreaming with
// permessage-deflate negotiated, 200 runs: the compressed write path goes
// through the same batches, and the close is always answered after every
// message written before it, each one compressed frame that inflates to the
// message byte for byte.
func TestCloseWhileStreamingCompressed(t *testing.T) {
	checkLeaks(t)
	o := testOptions(&logBuffer{})
	o.Compression = true
	ts := serve(t, ByteSliceMessages(o), streamer)
	for run := range closeStressRuns {
		c, _ := deflateDial(t, ts)
		skip := run % 7
		for range skip {
			if f, err := c.next(); err != nil || f.opcode != opBinary {
				t.Fatalf("run %d: %v %v", run, f, err)
			}
		}
		c.send(closeFrame(1000, "bye"))
		data, closing := c.untilClose()
		if code, reason := closing.closeCode(); code != 1000 || reason != "bye" {
			t.Fatalf("run %d: close %d %q, want the echo 1000 \"bye\"", run, code, reason)
		}
		for i, f := range data {
			if !f.fin || f.rsv != 4 || f.opcode != opBinary || !bytes.Equal(inflate(t, f.payload), streamPayload(i+skip)) {
				t.Fatalf("run %d: data frame %d is %v (rsv %d), want message %d compressed whole", run, i, f, f.rsv, i+skip)
			}
		}
		ts.waitFinished()
	}
}
