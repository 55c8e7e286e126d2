package sockets

import (
	"errors"
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/go-macaron/sockets/wschan"
)

// TestInvalidCloseReason: a close frame whose reason is not valid UTF-8 is
// answered with 1007 and a valid reason, never echoed (RFC 6455 8.1,
// Autobahn 7.5.1); the handler gets wschan.ErrInvalidUTF8 on its error channel,
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
			o := testOptions(&logBuffer{})
			if park {
				o = parkAtOnce(o)
			} else {
				o.ParkAfter = -1
			}
			p := newProbe[string]()
			ts := serve(t, Messages(o), p.handler)
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
					if !errors.Is(e.err, wschan.ErrInvalidUTF8) {
						t.Fatalf("error channel carried %v, want wschan.ErrInvalidUTF8", e.err)
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
		if got := errors.Is(e.err, wschan.ErrInvalidUTF8); got == valid {
			t.Fatalf("run %d: error channel carried %v", run, e.err)
		}
		ts.waitFinished()
	}
}

// invalidCloseReason is the reason of the 1007 that answers a close reason
// that is not valid UTF-8.
const invalidCloseReason = "invalid UTF-8 in the close reason"
