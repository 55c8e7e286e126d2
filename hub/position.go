package hub

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Position is where a broadcast stands in its room's history: the
// history's epoch, which changes whenever the history is lost (a hub
// restarted, a room's history expired), and the broadcast's offset, which
// grows by one with each broadcast to the room. A client holds the
// position of the last message it saw and gives it back when it
// reconnects (JoinConnFrom).
type Position struct {
	Epoch  string // 16 hex digits, random per room history
	Offset uint64 // 1 for the history's first broadcast
}

// String is the position as a client holds it: "epoch-offset".
func (p Position) String() string {
	if p.Epoch == "" {
		return ""
	}
	return p.Epoch + "-" + strconv.FormatUint(p.Offset, 10)
}

// ErrBadPosition is what ParsePosition returns for anything but a
// position String made.
var ErrBadPosition = errors.New("hub: malformed position")

// maxPosition bounds the length of a position: 16 hex digits, a dash, at
// most 20 decimal digits.
const maxPosition = 16 + 1 + 20

// ParsePosition parses what Position.String made, and refuses anything
// else (ErrBadPosition), in time bounded by maxPosition whatever s is.
func ParsePosition(s string) (Position, error) {
	if len(s) > maxPosition || len(s) < 18 || s[16] != '-' {
		return Position{}, ErrBadPosition
	}
	epoch, off := s[:16], s[17:]
	for i := range len(epoch) {
		if c := epoch[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return Position{}, ErrBadPosition
		}
	}
	if off[0] == '0' && len(off) > 1 || strings.TrimLeft(off, "0123456789") != "" {
		return Position{}, ErrBadPosition // no sign, no leading zero
	}
	n, err := strconv.ParseUint(off, 10, 64)
	if err != nil {
		return Position{}, ErrBadPosition
	}
	return Position{Epoch: epoch, Offset: n}, nil
}

// newEpoch is a random epoch.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Positioned is a value that carries its own position: a broadcast of one
// (a JSON pointer, say *Message with an ID field) gets its position set
// before it is encoded, so that the application's own wire format carries
// it. Hub.SetStamp does the same for any T.
type Positioned interface {
	SetPosition(Position)
}
