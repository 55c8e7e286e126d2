package wschan

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/internal/frames"
)

// The transport echoes a peer's close frame, whatever its reason holds;
// RFC 6455 8.1 says a reason that is not valid UTF-8 must fail the
// connection instead (Autobahn 7.5.1). The transport reads through a
// closeGuard, which holds back each close frame until it is whole and, when
// its reason is not valid UTF-8, hands over a 1007 close frame of its own
// in its place: the transport echoes that, never the invalid bytes.

// invalidCloseReason is the reason sent with 1007 for a close frame whose
// reason is not valid UTF-8.
const invalidCloseReason = "invalid UTF-8 in the close reason"

// closeGuard is the first stage of what the transport reads. Its reads
// happen under the transport's read lock, one at a time.
type closeGuard struct {
	track frames.Track // the frames before the close frame
	held  []byte       // a close frame, from its first byte, until it is whole
	ready []byte       // bytes to hand out before reading more

	// invalid is the peer's close frame, with its reason made valid, once
	// one arrived with an invalid reason.
	invalid atomic.Pointer[websocket.CloseError]
}

// socketReader is what a closeGuard reads from: the stages below it.
type socketReader interface {
	readSocket(p []byte) (int, error)
}

// read reads into p from src.
func (g *closeGuard) read(p []byte, src socketReader) (int, error) {
	for {
		if len(g.ready) > 0 {
			n := copy(p, g.ready)
			g.ready = g.ready[n:]
			return n, nil
		}
		n, err := src.readSocket(p)
		got := p[:n]
		if g.held == nil {
			k := g.pass(got)
			if k == n {
				return n, err
			}
			g.held = append(make([]byte, 0, 2+4+125), got[k:]...)
			if k > 0 {
				g.settle()
				return k, nil
			}
		} else {
			g.held = append(g.held, got...)
		}
		g.settle()
		if err != nil {
			return 0, err
		}
	}
}

// pass returns how many bytes of b come before the start of a close frame
// (all of them when none starts in b), and tracks the frames they hold.
func (g *closeGuard) pass(b []byte) int {
	for i := 0; i < len(b); {
		t := &g.track
		if t.Boundary() && b[i]&0x0f == 0x8 {
			return i
		}
		k := 1
		if rest := t.Payload(); rest > 0 {
			k = int(min(rest, uint64(len(b)-i)))
		}
		t.Feed(b[i : i+k])
		i += k
	}
	return len(b)
}

// settle hands out the held close frame once it is whole (or once it is
// known to be malformed, which the transport then reports), replaced by
// 1007 when its reason is not valid UTF-8. Anything after it follows it.
func (g *closeGuard) settle() {
	h := g.held
	if len(h) < 2 {
		return
	}
	n := int(h[1] & 0x7f)
	if n > 125 { // not a valid control frame: the transport fails it
		g.ready, g.held = h, nil
		return
	}
	size := 2 + n
	if h[1]&0x80 != 0 {
		size += 4
	}
	if len(h) < size {
		return
	}
	if frame := g.check(h[:size]); frame != nil {
		h = append(frame, h[size:]...)
	}
	g.ready, g.held = h, nil
}

// check returns a close frame of 1007 and invalidCloseReason, masked with
// the same key, to stand for frame, a whole close frame, when its reason is
// not valid UTF-8; nil when the reason is valid.
func (g *closeGuard) check(frame []byte) []byte {
	masked := frame[1]&0x80 != 0
	payload := frame[2:]
	var key []byte
	if masked {
		key, payload = payload[:4], payload[4:]
	}
	if len(payload) <= 2 {
		return nil
	}
	plain := mask(bytes.Clone(payload), key)
	if utf8.Valid(plain[2:]) {
		return nil
	}
	g.invalid.Store(&websocket.CloseError{Code: websocket.StatusCode(binary.BigEndian.Uint16(plain)),
		Reason: string([]rune(string(plain[2:])))}) // each invalid byte as U+FFFD
	out := append([]byte{frame[0], frame[1]&0x80 | byte(2+len(invalidCloseReason))}, key...)
	body := binary.BigEndian.AppendUint16(nil, uint16(websocket.StatusInvalidFramePayloadData))
	return append(out, mask(append(body, invalidCloseReason...), key)...)
}

// mask masks (or unmasks) b in place with key, when there is one (RFC 6455
// section 5.3), and returns it.
func mask(b, key []byte) []byte {
	if len(key) == 4 {
		for i := range b {
			b[i] ^= key[i%4]
		}
	}
	return b
}

// invalidCloseEnding is the end after a close frame whose reason is not
// valid UTF-8 (peer): the transport has answered with 1007.
func invalidCloseEnding(peer *websocket.CloseError) ending {
	cause := fmt.Errorf("sockets: the peer's close frame (code %d) has a reason that is not valid UTF-8: %w",
		peer.Code, ErrInvalidUTF8)
	return ending{by: EndedByPeer, peerClosed: true, act: actDrop, code: websocket.StatusInvalidFramePayloadData,
		reason: invalidCloseReason, level: LogLevelError, cause: cause, msg: cause.Error()}
}
