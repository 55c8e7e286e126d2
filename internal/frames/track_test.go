package frames

import (
	"math/rand/v2"
	"testing"

	"github.com/go-macaron/sockets/internal/wstest"
)

// FuzzFrameTrack: a stream of client frames from an independent encoder
// (internal/wstest), of every length encoding, fed to the frame tracker
// (which the parking gate and the close guard read by) one byte at a time
// and in the fuzzer's chunks: the tracker
// stands at a boundary exactly where a frame ends (and at the start).
func FuzzFrameTrack(f *testing.F) {
	f.Add(uint64(1), uint8(3), []byte{1, 7, 200})
	f.Add(uint64(7), uint8(8), []byte{})
	f.Add(uint64(42), uint8(1), []byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, seed uint64, frames uint8, chunks []byte) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var stream []byte
		ends := map[int]bool{0: true}
		for range frames % 12 {
			var n int
			switch rng.IntN(4) {
			case 0:
				n = rng.IntN(126) // 7-bit length
			case 1:
				n = 126 + rng.IntN(1<<16-126) // 16-bit length
			case 2:
				n = 1<<16 + rng.IntN(300) // 64-bit length
			default:
				n = 125 + rng.IntN(3) // the edges of the 7-bit form
			}
			payload := make([]byte, n)
			for i := range payload {
				payload[i] = byte(rng.Uint32()) // payload bytes that look like headers
			}
			op := []byte{wstest.OpText, wstest.OpBinary, wstest.OpContinuation, wstest.OpPing, wstest.OpClose}[rng.IntN(5)]
			key := [4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
			stream = append(stream, wstest.Frame(op, rng.IntN(2) == 0, key, payload)...)
			ends[len(stream)] = true
		}

		var byByte Track
		for i := range stream {
			if got := byByte.Boundary(); got != ends[i] {
				t.Fatalf("byte by byte, at offset %d of %d: boundary %v, want %v", i, len(stream), got, ends[i])
			}
			byByte.Feed(stream[i : i+1])
		}
		if !byByte.Boundary() {
			t.Fatal("byte by byte: not at a boundary at the end of the stream")
		}

		var chunked Track
		for off, c := 0, 0; off < len(stream); c++ {
			n := len(stream) - off
			if len(chunks) > 0 {
				n = min(n, 1+int(chunks[c%len(chunks)])*int(chunks[c%len(chunks)]))
			}
			chunked.Feed(stream[off : off+n])
			off += n
			if got := chunked.Boundary(); got != ends[off] {
				t.Fatalf("in chunks, at offset %d of %d: boundary %v, want %v", off, len(stream), got, ends[off])
			}
		}
	})
}
