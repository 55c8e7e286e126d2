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
//
// With a Streams backplane (the Redis backplane, Durable) the position is
// the room's stream entry: Offset is its millisecond and Seq its sequence
// number, and InStream is set; it orders the room across every server.
type Position struct {
	Epoch  string // 16 hex digits, random per room history
	Offset uint64 // 1 for the history's first broadcast; a stream entry's millisecond
	// Seq and InStream: a stream entry's sequence number, in a stream.
	Seq      uint64
	InStream bool
}

// String is the position as a client holds it: "epoch-offset", or
// "epoch-ms-seq" in a stream.
func (p Position) String() string {
	if p.Epoch == "" {
		return ""
	}
	var buf [64]byte // one allocation, the string: positions are made per broadcast
	b := append(append(buf[:0], p.Epoch...), '-')
	b = strconv.AppendUint(b, p.Offset, 10)
	if p.InStream {
		b = strconv.AppendUint(append(b, '-'), p.Seq, 10)
	}
	return string(b)
}

// streamID is the position's stream entry id, "ms-seq".
func (p Position) streamID() string {
	return strconv.FormatUint(p.Offset, 10) + "-" + strconv.FormatUint(p.Seq, 10)
}

// after reports whether p comes after q in a stream.
func (p Position) after(q Position) bool {
	return p.Offset > q.Offset || p.Offset == q.Offset && p.Seq > q.Seq
}

// streamPosition is the position of the stream entry id ("ms-seq") in a
// room's history of the given epoch.
func streamPosition(epoch, id string) (Position, error) {
	a, b, ok := strings.Cut(id, "-")
	if !ok {
		return Position{}, ErrBadPosition
	}
	ms, err := parseDecimal(a)
	if err != nil {
		return Position{}, err
	}
	seq, err := parseDecimal(b)
	if err != nil {
		return Position{}, err
	}
	return Position{Epoch: epoch, Offset: ms, Seq: seq, InStream: true}, nil
}

// parseDecimal reads an unsigned decimal without sign or leading zero.
func parseDecimal(s string) (uint64, error) {
	if s == "" || s[0] == '0' && len(s) > 1 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, ErrBadPosition
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, ErrBadPosition
	}
	return n, nil
}

// ErrBadPosition is what ParsePosition returns for anything but a
// position String made.
var ErrBadPosition = errors.New("hub: malformed position")

// maxPosition bounds the length of a position: 16 hex digits, a dash, at
// most 20 decimal digits, and in a stream another dash and 20 more.
const maxPosition = 16 + 1 + 20 + 1 + 20

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
	if ms, seq, ok := strings.Cut(off, "-"); ok {
		p := Position{Epoch: epoch, InStream: true}
		var err error
		if p.Offset, err = parseDecimal(ms); err != nil {
			return Position{}, err
		}
		if p.Seq, err = parseDecimal(seq); err != nil {
			return Position{}, err
		}
		return p, nil
	}
	n, err := parseDecimal(off) // no sign, no leading zero
	if err != nil {
		return Position{}, err
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
