// Package wstest builds WebSocket client frames for the module's tests, by
// RFC 6455 section 5.2 and independently of the parsers under test.
package wstest

import "encoding/binary"

// Opcodes of RFC 6455 section 5.2.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// MaskedFrame builds one client frame (FIN set, masked) of the given opcode.
func MaskedFrame(opcode byte, payload []byte) []byte {
	return Frame(opcode, true, [4]byte{1, 2, 3, 4}, payload)
}

// Frame builds one masked client frame with the given opcode, FIN bit,
// masking key and payload, its length in the shortest form.
func Frame(opcode byte, fin bool, key [4]byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	f = append(f, key[:]...)
	for i, c := range payload {
		f = append(f, c^key[i%4])
	}
	return f
}

// CloseFrame builds a masked client close frame with code and reason.
func CloseFrame(code int, reason string) []byte {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return MaskedFrame(OpClose, append(p, reason...))
}
