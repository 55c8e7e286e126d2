package hub

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/internal/encodeonce"
)

type kind int

const (
	kindString kind = iota
	kindBytes
	kindJSON
)

// codec turns a T into the payload of a backplane message and back: text
// and bytes as they are, anything else as JSON (with the codec the
// connections use by default, so that a pointer broadcast is encoded once
// for the backplane and every local member).
type codec[T any] struct{ kind kind }

func newCodec[T any]() codec[T] {
	switch any(*new(T)).(type) {
	case string:
		return codec[T]{kindString}
	case []byte:
		return codec[T]{kindBytes}
	}
	return codec[T]{kindJSON}
}

func isPointer[T any]() bool { return reflect.TypeFor[T]().Kind() == reflect.Pointer }

func (c codec[T]) appendPayload(dst []byte, v T, shared bool) ([]byte, error) {
	switch c.kind {
	case kindString:
		return append(dst, any(v).(string)...), nil
	case kindBytes:
		return append(dst, any(v).([]byte)...), nil
	}
	if shared {
		if b, ok, err := encodeonce.Shared.Encoded(any(v), sockets.FastJSON{}); ok {
			if err != nil {
				return dst, fmt.Errorf("encode %T: %w", v, err)
			}
			return append(dst, b...), nil
		}
	}
	b, err := sockets.FastJSON{}.AppendEncode(dst, v)
	if err != nil {
		return dst, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

func (c codec[T]) payload(p []byte) (T, error) {
	var v T
	switch c.kind {
	case kindString:
		return any(string(p)).(T), nil
	case kindBytes:
		return any(bytes.Clone(p)).(T), nil
	}
	target := any(&v)
	if t := reflect.TypeFor[T](); t.Kind() == reflect.Pointer {
		v = reflect.New(t.Elem()).Interface().(T)
		target = v
	}
	if err := (sockets.FastJSON{}).Decode(p, target); err != nil {
		return v, fmt.Errorf("decode %T: %w", v, err)
	}
	return v, nil
}

// envelope is what travels over the backplane: a header line of
// space-separated fields (format version, publisher node, the publisher's
// sequence number for the room, publish time in Unix nanoseconds, and the
// quoted target member name, empty for the whole room), then the payload.
type envelope struct {
	node   string
	seq    uint64
	sentAt int64
	to     string
	body   []byte
}

const envelopeVersion = "h1"

func appendEnvelope(dst []byte, e envelope) []byte {
	dst = append(dst, envelopeVersion...)
	dst = append(dst, ' ')
	dst = append(dst, e.node...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, e.seq, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, e.sentAt, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendQuote(dst, e.to)
	return append(dst, '\n')
}

var errEnvelope = errors.New("not a hub message")

func parseEnvelope(msg []byte) (envelope, error) {
	var e envelope
	line, body, ok := bytes.Cut(msg, []byte{'\n'})
	if !ok {
		return e, errEnvelope
	}
	f := bytes.SplitN(line, []byte{' '}, 5)
	if len(f) != 5 || string(f[0]) != envelopeVersion {
		return e, errEnvelope
	}
	var err error
	e.node = string(f[1])
	if e.seq, err = strconv.ParseUint(string(f[2]), 10, 64); err != nil {
		return e, errEnvelope
	}
	if e.sentAt, err = strconv.ParseInt(string(f[3]), 10, 64); err != nil {
		return e, errEnvelope
	}
	if e.to, err = strconv.Unquote(string(f[4])); err != nil {
		return e, errEnvelope
	}
	e.body = body
	return e, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
