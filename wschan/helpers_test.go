package wschan

import "github.com/go-macaron/sockets/internal/wstest"

const (
	opBinary = wstest.OpBinary
	opClose  = wstest.OpClose
	opPing   = wstest.OpPing
)

func maskedFrame(opcode byte, payload []byte) []byte { return wstest.MaskedFrame(opcode, payload) }

func closeFrame(code int, reason string) []byte { return wstest.CloseFrame(code, reason) }
