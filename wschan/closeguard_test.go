package wschan

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"unicode/utf8"
)

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
