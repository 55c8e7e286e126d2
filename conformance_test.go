package sockets

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/macaron.v1"
)

// spec describes one client frame, which may break the rules on purpose.
type spec struct {
	fin      bool
	rsv      byte // reserved bits, 0-7
	opcode   byte
	payload  []byte
	unmasked bool
	length   uint64 // the declared payload length, when it is not len(payload)
}

// build encodes the frame: header, mask key, masked payload.
func (s spec) build() []byte {
	b := byte(s.rsv&7) << 4
	if s.fin {
		b |= 0x80
	}
	f := []byte{b | s.opcode&0xF}
	n := uint64(len(s.payload))
	if s.length != 0 {
		n = s.length
	}
	mask := byte(0x80)
	if s.unmasked {
		mask = 0
	}
	switch {
	case n < 126:
		f = append(f, mask|byte(n))
	case n < 1<<16:
		f = append(f, mask|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, mask|127)
		f = binary.BigEndian.AppendUint64(f, n)
	}
	if s.unmasked {
		return append(f, s.payload...)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	f = append(f, key[:]...)
	for i, c := range s.payload {
		f = append(f, c^key[i%4])
	}
	return f
}

// Shorthands for the cases below.
func text(p string) []byte      { return spec{fin: true, opcode: opText, payload: []byte(p)}.build() }
func binaryMsg(p string) []byte { return spec{fin: true, opcode: opBinary, payload: []byte(p)}.build() }
func ping(p string) []byte      { return spec{fin: true, opcode: opPing, payload: []byte(p)}.build() }
func frag(opcode byte, p string, fin bool) []byte {
	return spec{fin: fin, opcode: opcode, payload: []byte(p)}.build()
}
func closeRaw(p []byte) []byte { return spec{fin: true, opcode: opClose, payload: p}.build() }

// conformanceCase is one check of RFC 6455 conformance, in the spirit of the
// Autobahn|Testsuite categories, written from the RFC.
type conformanceCase struct {
	section string   // the RFC 6455 section that decides the case
	name    string   // what is sent
	send    [][]byte // the frames, sent in one write
	echoes  []string // the messages the echo handler sends back first
	pongs   []string // the pongs the server answers with
	then    [][]byte // frames sent once the echoes and pongs arrived
	// code is the server's close code; 0 means the connection stays open
	// (the test then closes it with 1000 and expects the echo).
	code int
}

func conformanceCases() []conformanceCase {
	sized := func(n int) string { return strings.Repeat("*", n) }
	big := sized(65536)
	cases := []conformanceCase{
		// 1. Framing and payload lengths (5.2).
		{section: "5.2", name: "empty text", send: [][]byte{text("")}, echoes: []string{""}},
		{section: "5.2", name: "empty binary", send: [][]byte{binaryMsg("")}, echoes: []string{""}},
	}
	for _, n := range []int{125, 126, 127, 65535, 65536} {
		cases = append(cases,
			conformanceCase{section: "5.2", name: fmt.Sprintf("text of %d bytes", n), send: [][]byte{text(sized(n))}, echoes: []string{sized(n)}},
			conformanceCase{section: "5.2", name: fmt.Sprintf("binary of %d bytes", n), send: [][]byte{binaryMsg(sized(n))}, echoes: []string{sized(n)}})
	}
	cases = append(cases,
		conformanceCase{section: "5.2", name: "three messages in one write", send: [][]byte{text("a"), binaryMsg("b"), text("c")}, echoes: []string{"a", "b", "c"}},

		// 2. Pings and pongs (5.5.2, 5.5.3, 5.5).
		conformanceCase{section: "5.5.2", name: "empty ping", send: [][]byte{ping("")}, pongs: []string{""}},
		conformanceCase{section: "5.5.2", name: "ping of 125 bytes", send: [][]byte{ping(sized(125))}, pongs: []string{sized(125)}},
		conformanceCase{section: "5.5.2", name: "binary ping payload", send: [][]byte{ping("\x00\xff\xfe\x01")}, pongs: []string{"\x00\xff\xfe\x01"}},
		conformanceCase{section: "5.5", name: "ping of 126 bytes", send: [][]byte{ping(sized(126))}, code: 1002},
		conformanceCase{section: "5.5.3", name: "unsolicited pong", send: [][]byte{spec{fin: true, opcode: opPong, payload: []byte("x")}.build(), text("after")}, echoes: []string{"after"}},
		conformanceCase{section: "5.5.2", name: "ten pings", send: repeat(ping("p"), 10), pongs: strings.Split(strings.Repeat("p", 10), "")},

		// 3. Reserved bits and opcodes (5.2).
		conformanceCase{section: "5.2", name: "RSV1 without an extension", send: [][]byte{spec{fin: true, rsv: 4, opcode: opText, payload: []byte("x")}.build()}, code: 1002},
		conformanceCase{section: "5.2", name: "RSV2", send: [][]byte{spec{fin: true, rsv: 2, opcode: opText, payload: []byte("x")}.build()}, code: 1002},
		conformanceCase{section: "5.2", name: "RSV3 on a ping", send: [][]byte{spec{fin: true, rsv: 1, opcode: opPing}.build()}, code: 1002},
		conformanceCase{section: "5.2", name: "RSV bits after a good message", send: [][]byte{text("ok")}, echoes: []string{"ok"}, then: [][]byte{spec{fin: true, rsv: 7, opcode: opBinary}.build()}, code: 1002},
	)
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		cases = append(cases, conformanceCase{section: "5.2", name: fmt.Sprintf("reserved opcode %#x", op),
			send: [][]byte{spec{fin: true, opcode: op, payload: []byte("x")}.build()}, code: 1002})
	}
	cases = append(cases,
		// 4. Fragmentation (5.4).
		conformanceCase{section: "5.4", name: "text in three fragments", send: [][]byte{frag(opText, "frag", false), frag(opContinuation, "men", false), frag(opContinuation, "ted", true)}, echoes: []string{"fragmented"}},
		conformanceCase{section: "5.4", name: "empty fragments", send: [][]byte{frag(opBinary, "", false), frag(opContinuation, "", false), frag(opContinuation, "", true)}, echoes: []string{""}},
		conformanceCase{section: "5.4", name: "a ping between fragments", send: [][]byte{frag(opText, "be", false), ping("mid"), frag(opContinuation, "fore", true)}, echoes: []string{"before"}, pongs: []string{"mid"}},
		conformanceCase{section: "5.4", name: "fragments of 64 KiB in all", send: [][]byte{frag(opBinary, big[:30000], false), frag(opContinuation, big[30000:], true)}, echoes: []string{big}},
		conformanceCase{section: "5.4", name: "continuation without a start", send: [][]byte{frag(opContinuation, "x", true)}, code: 1002},
		conformanceCase{section: "5.4", name: "a text frame inside a fragmented message", send: [][]byte{frag(opText, "a", false), text("b")}, code: 1002},
		conformanceCase{section: "5.4", name: "a fragmented ping", send: [][]byte{spec{fin: false, opcode: opPing, payload: []byte("x")}.build()}, code: 1002},

		// 5. UTF-8 (8.1, 5.6).
		conformanceCase{section: "8.1", name: "valid multi-byte text", send: [][]byte{text("κόσμε 𝄞 ✓")}, echoes: []string{"κόσμε 𝄞 ✓"}},
		conformanceCase{section: "8.1", name: "invalid UTF-8 text (a surrogate)", send: [][]byte{text("ok")}, echoes: []string{"ok"}, then: [][]byte{text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")}, code: 1007},
		conformanceCase{section: "8.1", name: "overlong encoding", send: [][]byte{text("\xc0\xaf")}, code: 1007},
		conformanceCase{section: "8.1", name: "valid text split inside a code point", send: [][]byte{frag(opText, "\xf0\x9d", false), frag(opContinuation, "\x84\x9e", true)}, echoes: []string{"𝄞"}},
		conformanceCase{section: "8.1", name: "invalid text across fragments", send: [][]byte{frag(opText, "ok\xf4", false), frag(opContinuation, "\x90\x80\x80", true)}, code: 1007},

		// 6. Close codes and reasons (5.5.1, 7.4).
		conformanceCase{section: "5.5.1", name: "close without a payload", send: [][]byte{closeRaw(nil)}, code: 1005},
		conformanceCase{section: "5.5.1", name: "close with a 1-byte payload", send: [][]byte{closeRaw([]byte{3})}, code: 1002},
		conformanceCase{section: "5.5.1", name: "close 1000 with a reason of 123 bytes", send: [][]byte{closeFrame(1000, sized(123))}, code: 1000},
		conformanceCase{section: "5.5", name: "close with a reason of 124 bytes", send: [][]byte{closeFrame(1000, sized(124))}, code: 1002},
		// RFC 6455 8.1: the connection fails (closeguard.go).
		conformanceCase{section: "8.1", name: "close 1000 with an invalid UTF-8 reason", send: [][]byte{closeFrame(1000, "\xff")}, code: 1007},
		conformanceCase{section: "5.5.1", name: "a message, its echo, then close", send: [][]byte{text("last")}, echoes: []string{"last"}, then: [][]byte{closeFrame(1000, "")}, code: 1000},
	)
	for _, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cases = append(cases, conformanceCase{section: "7.4.1", name: fmt.Sprintf("valid close code %d", code), send: [][]byte{closeFrame(code, "")}, code: code})
	}
	for _, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, conformanceCase{section: "7.4.1", name: fmt.Sprintf("invalid close code %d", code), send: [][]byte{closeFrame(code, "")}, code: 1002})
	}
	return append(cases,
		// 7. Limits (10.4) and masking (5.1, 5.3). The transport does not
		// expose a frame's declared length: the limit trips when the byte
		// past MaxMessageSize arrives, having buffered no more than that.
		conformanceCase{section: "10.4", name: "a declared length of 1 TiB", send: [][]byte{spec{fin: true, opcode: opBinary, length: 1 << 40, payload: []byte(big + "xxxx")}.build()}, code: 1009},
		conformanceCase{section: "10.4", name: "one byte over the limit", send: [][]byte{text(big + "x")}, code: 1009},
		conformanceCase{section: "10.4", name: "over the limit in fragments", send: [][]byte{frag(opText, big[:40000], false), frag(opContinuation, big[40000:]+"x", true)}, code: 1009},
		conformanceCase{section: "5.1", name: "an unmasked text frame", send: [][]byte{spec{fin: true, opcode: opText, payload: []byte("x"), unmasked: true}.build()}, code: 1002},
	)
}

// hasClose reports whether frames hold a close frame (each starts one).
func hasClose(frames [][]byte) bool {
	for _, f := range frames {
		if f[0]&0xF == opClose {
			return true
		}
	}
	return false
}

func repeat(b []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// echo sends every message back until done.
func echo[T any](in <-chan T, out chan<- T, done <-chan bool) {
	for {
		select {
		case m := <-in:
			select {
			case out <- m:
			case <-done:
				return
			}
		case <-done:
			return
		}
	}
}

// TestConformance runs every case against an echo handler of Messages()
// and of ByteSliceMessages(), each over a real socket with a raw-frame
// client.
func TestConformance(t *testing.T) {
	checkLeaks(t)
	for _, kind := range []struct {
		name    string
		mw      macaron.Handler
		handler macaron.Handler
		opcode  byte
	}{
		{"Messages", Messages(testOptions(&logBuffer{})), echo[string], opText},
		{"ByteSliceMessages", ByteSliceMessages(testOptions(&logBuffer{})), echo[[]byte], opBinary},
	} {
		t.Run(kind.name, func(t *testing.T) {
			ts := serve(t, kind.mw, kind.handler)
			for _, c := range conformanceCases() {
				t.Run(c.section+" "+c.name, func(t *testing.T) {
					runConformance(t, ts, c, kind.opcode)
				})
			}
		})
	}
}

func runConformance(t *testing.T, ts *testServer, c conformanceCase, opcode byte) {
	rc := ts.rawDial()
	rc.t = t
	rc.send(c.send...)
	var echoes, pongs []string
	sent := false // c.then, or our own close
	clientClosed := hasClose(c.send) || hasClose(c.then)
	for {
		if !sent && len(echoes) == len(c.echoes) && len(pongs) == len(c.pongs) {
			sent = true
			if c.then != nil {
				rc.send(c.then...)
			} else if c.code == 0 {
				rc.send(closeFrame(1000, "done"))
				c.code, clientClosed = 1000, true
			}
		}
		f, err := rc.next()
		if err != nil {
			t.Fatalf("after echoes %q and pongs %q: %v", clip(echoes), clip(pongs), err)
		}
		switch f.opcode {
		case opPong:
			pongs = append(pongs, string(f.payload))
			continue
		case opPing:
			continue
		case opClose:
		default:
			if f.opcode != opcode || !f.fin || f.rsv != 0 || f.masked {
				t.Errorf("data frame %v, want a whole unmasked frame of opcode %#x", f, opcode)
			}
			echoes = append(echoes, string(f.payload))
			continue
		}
		if code, _ := f.closeCode(); code != c.code {
			t.Errorf("close %d, want %d", code, c.code)
		}
		break
	}
	if !clientClosed {
		// Answer the server's close as a client does. The server may
		// already have closed TCP: the write is best effort.
		_, _ = rc.conn.Write(closeFrame(1000, ""))
	}
	rc.expectEOF()
	if !equalStrings(echoes, c.echoes) {
		t.Errorf("echoes %q, want %q", clip(echoes), clip(c.echoes))
	}
	if !equalStrings(pongs, c.pongs) {
		t.Errorf("pongs %q, want %q", clip(pongs), clip(c.pongs))
	}
	ts.waitFinished()
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal([]byte(a[i]), []byte(b[i])) {
			return false
		}
	}
	return true
}

// clip shortens long strings for failure messages.
func clip(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		if len(v) > 20 {
			v = fmt.Sprintf("%s...(%d bytes)", v[:20], len(v))
		}
		out[i] = v
	}
	return out
}
