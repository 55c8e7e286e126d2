// Package frames follows the frame boundaries of a WebSocket client's byte
// stream (RFC 6455 section 5.2), for the readers under the transport that
// must know where frames start: the close guard and the parking gate.
package frames

import "encoding/binary"

// Track follows the frame boundaries of what a client sent, so that a
// reader knows whether the next byte starts a new frame. Only the header's
// length fields are looked at; the payload is skipped by count. The zero
// value stands at the start of a stream.
type Track struct {
	hdr     [10]byte // the header so far: two bytes and up to eight of length
	hn      int      // header bytes seen
	payload uint64   // payload bytes still to come
}

// Feed advances the tracker over b.
func (t *Track) Feed(b []byte) {
	for len(b) > 0 {
		if t.payload > 0 {
			k := min(t.payload, uint64(len(b)))
			t.payload -= k
			b = b[k:]
			continue
		}
		if t.hn < len(t.hdr) {
			t.hdr[t.hn] = b[0]
		}
		t.hn++
		b = b[1:]
		if t.hn < 2 {
			continue
		}
		ext := 0
		switch t.hdr[1] & 0x7f {
		case 126:
			ext = 2
		case 127:
			ext = 8
		}
		size := 2 + ext
		if t.hdr[1]&0x80 != 0 {
			size += 4 // the mask key
		}
		if t.hn < size {
			continue
		}
		switch ext {
		case 0:
			t.payload = uint64(t.hdr[1] & 0x7f)
		case 2:
			t.payload = uint64(binary.BigEndian.Uint16(t.hdr[2:4]))
		default:
			t.payload = binary.BigEndian.Uint64(t.hdr[2:10])
		}
		t.hn = 0
	}
}

// Boundary reports whether the stream stands between two frames.
func (t *Track) Boundary() bool { return t.hn == 0 && t.payload == 0 }

// Payload returns how many payload bytes of the current frame are still to
// come (0 within a header or at a boundary).
func (t *Track) Payload() uint64 { return t.payload }
