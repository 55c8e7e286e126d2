package sockets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// TestInvalidCloseReason: a close frame whose reason is not valid UTF-8 is
// answered with 1007 and a valid reason, never echoed (RFC 6455 8.1,
// Autobahn 7.5.1); the handler gets ErrInvalidUTF8 on its error channel,
// and the messages before the close are delivered. Over a raw-frame client,
// with the close frame in one write, split byte by byte, and sent with the
// handshake itself, with and without the read loop parking.
func TestInvalidCloseReason(t *testing.T) {
	checkLeaks(t)
	for _, park := range []bool{false, true} {
		name := "no parking"
		if park {
			name = "parking after 1ns"
		}
		t.Run(name, func(t *testing.T) {
			if park {
				parkAtOnce(t)
			}
			p := newProbe[string]()
			ts := serve(t, Messages(testOptions(&logBuffer{})), p.handler)
			for _, how := range []string{"one write", "byte by byte", "with the handshake"} {
				t.Run(how, func(t *testing.T) {
					bad := closeFrame(1000, "bye \xff\xfe")
					var rc *rawClient
					if how == "with the handshake" {
						r := ts.raw("GET", "", upgradeHeaders("http://"+ts.host), append(maskedFrame(opText, []byte("hi")), bad...))
						if r.status != 101 {
							t.Fatalf("handshake: %d %q", r.status, r.body)
						}
						rc = &rawClient{t: t, conn: r.conn, br: r.br}
					} else {
						rc = ts.rawDial()
						rc.t = t
						rc.send(maskedFrame(opText, []byte("hi")))
						if how == "one write" {
							rc.send(bad)
						} else {
							for _, b := range bad {
								rc.send([]byte{b})
							}
						}
					}
					if m := p.next(t); m != "hi" {
						t.Fatalf("delivered %q, want \"hi\"", m)
					}
					_, f := rc.untilClose()
					code, reason := f.closeCode()
					if code != 1007 || !utf8.ValidString(reason) || reason != invalidCloseReason {
						t.Fatalf("the server answered close %d %q, want 1007 %q", code, reason, invalidCloseReason)
					}
					e := p.end(t)
					if !errors.Is(e.err, ErrInvalidUTF8) {
						t.Fatalf("error channel carried %v, want ErrInvalidUTF8", e.err)
					}
					ts.waitFinished()
				})
			}
		})
	}
}

// TestCloseGuardStress: 200 runs of a raw-frame client whose messages, a
// ping and a close frame (valid or not, at random) arrive split at random
// bytes: every message is delivered intact, the ping answered, and the
// close answered with the peer's own code and reason when the reason is
// valid, with 1007 when it is not.
func TestCloseGuardStress(t *testing.T) {
	checkLeaks(t)
	p := newProbe[string]()
	ts := serve(t, Messages(testOptions(&logBuffer{})), p.handler)
	rng := rand.New(rand.NewPCG(7, 22))
	for run := range 200 {
		var stream []byte
		// The second, binary, goes on the wire as 0x88 0x00...: a close
		// frame's first bytes, inside a payload.
		want := []string{"a", "\x89\x02\x03\x04", string(make([]byte, 300))}
		for i, m := range want {
			op := byte(opText)
			if i == 1 {
				op = opBinary
			}
			stream = append(stream, maskedFrame(op, []byte(m))...)
		}
		stream = append(stream, maskedFrame(opPing, []byte("p"))...)
		valid := rng.IntN(2) == 0
		reason := "fine ✓"
		if !valid {
			reason = "not \xc3\x28 fine"
		}
		stream = append(stream, closeFrame(4001, reason)...)
		rc := ts.rawDial()
		for len(stream) > 0 {
			n := 1 + rng.IntN(min(len(stream), 40))
			rc.send(stream[:n])
			stream = stream[n:]
		}
		for i, w := range want {
			if got := p.next(t); got != w {
				t.Fatalf("run %d: message %d arrived as %q, want %q", run, i, got, w)
			}
		}
		pong := false
		for {
			f, err := rc.next()
			if err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
			if f.opcode == opPong {
				pong = true
				continue
			}
			if f.opcode != opClose {
				continue
			}
			code, r := f.closeCode()
			switch {
			case valid && (code != 4001 || r != reason):
				t.Fatalf("run %d: close %d %q, want the echo 4001 %q", run, code, r, reason)
			case !valid && (code != 1007 || r != invalidCloseReason):
				t.Fatalf("run %d: close %d %q, want 1007 %q", run, code, r, invalidCloseReason)
			}
			break
		}
		if !pong {
			t.Fatalf("run %d: the ping was not answered", run)
		}
		rc.expectEOF()
		e := p.end(t)
		if got := errors.Is(e.err, ErrInvalidUTF8); got == valid {
			t.Fatalf("run %d: error channel carried %v", run, e.err)
		}
		ts.waitFinished()
	}
}

// chunkReader hands out a stream in the chunk sizes the fuzzer picks.
type chunkReader struct {
	stream []byte
	sizes  []byte
}

func (r *chunkReader) readSocket(p []byte) (int, error) {
	if len(r.stream) == 0 {
		return 0, io.EOF
	}
	n := len(r.stream)
	if len(r.sizes) > 0 {
		n = 1 + int(r.sizes[0])
		r.sizes = r.sizes[1:]
	}
	n = min(n, len(p), len(r.stream))
	copy(p, r.stream[:n])
	r.stream = r.stream[n:]
	return n, nil
}

// FuzzCloseGuard: a stream of client frames (made by maskedFrame, not by
// the guard's own parser), read through the guard in any chunking, comes
// out byte for byte as it went in, unless its close frame's reason is not
// valid UTF-8: then everything before the close frame is unchanged and the
// close frame is 1007 with invalidCloseReason, masked with the same key.
func FuzzCloseGuard(f *testing.F) {
	f.Add([]byte("hello"), []byte("bye"), uint16(1000), []byte{0, 3, 1})
	f.Add([]byte("\x88\x02"), []byte("\xff"), uint16(4001), []byte{})
	f.Add(make([]byte, 300), []byte("é"), uint16(1001), []byte{125, 0, 0, 9})
	f.Fuzz(func(t *testing.T, payload, reason []byte, code uint16, sizes []byte) {
		if len(reason) > 123 {
			reason = reason[:123]
		}
		before := append(maskedFrame(opBinary, payload), maskedFrame(opPing, payload[:min(len(payload), 125)])...)
		closing := closeFrame(int(code), string(reason))
		stream := append(append([]byte(nil), before...), closing...)

		var g closeGuard
		src := &chunkReader{stream: stream, sizes: sizes}
		var out []byte
		buf := make([]byte, 64)
		for {
			n, err := g.read(buf, src)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		if !bytes.Equal(out[:min(len(before), len(out))], before) {
			t.Fatalf("the frames before the close were changed")
		}
		got := out[len(before):]
		if utf8.Valid(reason) {
			if !bytes.Equal(got, closing) || g.invalid.Load() != nil {
				t.Fatalf("a valid close frame came out as %x, want %x", got, closing)
			}
			return
		}
		want := maskedFrame(opClose, append(binary.BigEndian.AppendUint16(nil, 1007), invalidCloseReason...))
		if !bytes.Equal(got, want) {
			t.Fatalf("an invalid close frame came out as %x, want %x", got, want)
		}
		if bad := g.invalid.Load(); bad == nil || int(bad.Code) != int(code) || !utf8.ValidString(bad.Reason) {
			t.Fatalf("the peer's close was recorded as %+v", bad)
		}
	})
}
