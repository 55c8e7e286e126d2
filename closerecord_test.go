package sockets

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-macaron/sockets/internal/wstest"
	"github.com/go-macaron/sockets/wschan"
)

// wireClose is the close frame a raw client read from the server.
type wireClose struct {
	sent   bool // a close frame arrived (false: TCP closed without one)
	code   int  // 1005 for an empty close frame
	reason string
}

// readServerClose reads the server's frames until its close frame or the
// end of the stream.
func readServerClose(t *testing.T, br *bufio.Reader) wireClose {
	t.Helper()
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return wireClose{}
		}
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(br, ext[:]); err != nil {
				return wireClose{}
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(br, ext[:]); err != nil {
				return wireClose{}
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return wireClose{}
		}
		if hdr[0]&0x0f != wstest.OpClose {
			continue
		}
		if len(payload) < 2 {
			return wireClose{sent: true, code: 1005}
		}
		return wireClose{sent: true, code: int(binary.BigEndian.Uint16(payload)), reason: string(payload[2:])}
	}
}

// TestCloseRecordIsTheWire: for every ending, the close record's SentCode
// and SentReason are the close frame a raw client read (0 and "" when it
// read none), whoever wrote it: the transport writes 1009 and 1002 with
// reasons of its own.
func TestCloseRecordIsTheWire(t *testing.T) {
	type handler func(in <-chan string, out chan<- string, disc chan<- int, conn *Connection)
	idle := func(<-chan string, chan<- string, chan<- int, *Connection) {}
	for _, tc := range []struct {
		name     string
		compress bool
		opts     func(o *Options)
		act      handler // what the handler does once connected
		frames   [][]byte
	}{
		{name: "peer 1000", frames: [][]byte{wstest.CloseFrame(1000, "bye")}},
		{name: "peer 4001", frames: [][]byte{wstest.CloseFrame(4001, "custom reason")}},
		{name: "peer empty close", frames: [][]byte{maskedFrame(wstest.OpClose, nil)}},
		{name: "oversized 1009", opts: func(o *Options) { o.MaxMessageSize = 65536 },
			frames: [][]byte{maskedFrame(wstest.OpText, []byte(strings.Repeat("x", 65537)))}},
		{name: "oversized 1009 compressed", compress: true, opts: func(o *Options) { o.MaxMessageSize = 65536 },
			frames: [][]byte{maskedFrame(wstest.OpText, []byte(strings.Repeat("x", 65537)))}},
		{name: "invalid utf-8 1007", frames: [][]byte{maskedFrame(wstest.OpText, []byte{0xc3, 0x28})}},
		{name: "reserved bits 1002", frames: [][]byte{append([]byte{0x80 | 0x40 | wstest.OpText}, maskedFrame(wstest.OpText, []byte("x"))[1:]...)}},
		{name: "unknown opcode 1002", frames: [][]byte{maskedFrame(0x3, []byte("x"))}},
		{name: "invalid close payload 1002", frames: [][]byte{maskedFrame(wstest.OpClose, []byte{0x03})}},
		{name: "handler 4000", act: func(_ <-chan string, _ chan<- string, disc chan<- int, _ *Connection) { disc <- 4000 }},
		{name: "handler reason", act: func(_ <-chan string, _ chan<- string, _ chan<- int, c *Connection) {
			_ = c.CloseWithReason(4002, "see you")
		}},
		{name: "handler 1006 drop", act: func(_ <-chan string, _ chan<- string, disc chan<- int, _ *Connection) { disc <- 1006 }},
		{name: "handler 70000 becomes 1011", act: func(_ <-chan string, _ chan<- string, disc chan<- int, _ *Connection) { disc <- 70000 }},
		{name: "ping timeout", opts: func(o *Options) { o.PingPeriod, o.PongWait = 50*time.Millisecond, 200*time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			o := testOptions(&logBuffer{})
			o.Compression = tc.compress
			if tc.opts != nil {
				tc.opts(o)
			}
			act := tc.act
			if act == nil {
				act = idle
			}
			records := make(chan wschan.CloseRecord, 1)
			ts := serve(t, Messages(o), func(in <-chan string, out chan<- string, disc chan<- int, done <-chan bool, conn *Connection) {
				act(in, out, disc, conn)
				<-done
				r, ok := conn.CloseRecord()
				if !ok {
					t.Error("no close record at done")
				}
				records <- r
			})
			h := upgradeHeaders("http://" + ts.host)
			if tc.compress {
				h.Set("Sec-WebSocket-Extensions", "permessage-deflate")
			}
			r := ts.raw("GET", "", h, nil)
			if r.status != 101 {
				t.Fatalf("status %d", r.status)
			}
			for _, f := range tc.frames {
				if _, err := r.conn.Write(f); err != nil && !errors.Is(err, io.EOF) {
					t.Logf("write: %v", err) // the server may have closed already
				}
			}
			got := readServerClose(t, r.br)
			if got.sent && got.code != 1005 && got.code < 3000 && got.code != 1000 && got.code != 1001 {
				// Answer as a client does, so that the handshake completes.
				_, _ = r.conn.Write(wstest.CloseFrame(got.code, ""))
			}
			_ = r.conn.Close()
			rec := recv(t, records, "the close record")
			want := got
			if !want.sent {
				want.code = 0
			}
			if rec.SentCode != want.code || rec.SentReason != want.reason {
				t.Errorf("the record says %d %q was sent; the client read %d %q (a close frame: %v)",
					rec.SentCode, rec.SentReason, want.code, want.reason, got.sent)
			}
			if rec.By != wschan.EndedByPeer && want.sent && (rec.Code != want.code || rec.Reason != want.reason) {
				t.Errorf("the record's Code and Reason are %d %q; the server's close frame said %d %q", rec.Code, rec.Reason, want.code, want.reason)
			}
		})
	}
}
