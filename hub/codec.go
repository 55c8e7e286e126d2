package hub

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/go-macaron/sockets/internal/kind"
	"github.com/go-macaron/sockets/wschan"
)

// codec turns a T into the payload of a backplane message and back, as
// the connections frame it (internal/kind decides): text and bytes as they
// are, anything else as JSON, encoded with the connections' default codec.
type codec[T any] struct {
	kind kind.Kind
	elem reflect.Type // T's element type when T is a JSON pointer; nil otherwise
}

func newCodec[T any]() codec[T] {
	c := codec[T]{kind: kind.For[T]()}
	if t := reflect.TypeFor[T](); c.kind == kind.JSON && t.Kind() == reflect.Pointer {
		c.elem = t.Elem()
	}
	return c
}

// appendPayload appends v's payload to dst.
func (c codec[T]) appendPayload(dst []byte, v T) ([]byte, error) {
	b, err := kind.Append(c.kind, dst, v, wschan.FastJSON{}.AppendEncode)
	if err != nil {
		return dst, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// payload makes the value of a payload.
func (c codec[T]) payload(p []byte) (T, error) {
	v, err := kind.Decode[T](c.kind, p, wschan.FastJSON{}.Decode)
	if err != nil {
		return v, fmt.Errorf("decode %T: %w", v, err)
	}
	return v, nil
}

// parcel is one broadcast on its way to the local members. A member that
// joined with Join gets v; one that joined with JoinConn gets, for a JSON
// pointer, token: a copy of *v that stands for frame, v's encoding as it
// was at Broadcast, which the member's connection sends instead of
// encoding anything (wschan.Connection.Prepare). A copy of a byte slice
// is made once, at Broadcast, for all members.
type parcel[T any] struct {
	v, token T
	frame    []byte // the encoding by wschan.FastJSON; the backplane's payload
	err      error  // what encoding v failed with
}

// newParcel prepares v for delivery. frame, when not nil, is v's encoding
// already (a message from the backplane); v is then the hub's own and
// serves as the token.
func (c codec[T]) newParcel(v T, frame []byte) *parcel[T] {
	p := &parcel[T]{v: v, token: v}
	switch {
	case c.kind == kind.Binary && frame == nil:
		p.v = kind.FromBytes[T](bytes.Clone(kind.Bytes(v)))
		p.token = p.v
	case c.elem == nil:
	case frame != nil:
		p.frame = frame
	default:
		p.frame, p.err = wschan.FastJSON{}.AppendEncode(nil, v)
		tok := reflect.New(c.elem)
		if rv := reflect.ValueOf(v); !rv.IsNil() {
			tok.Elem().Set(rv.Elem())
		}
		p.token = tok.Interface().(T)
	}
	return p
}

// prepared reports whether members with a connection get the token and a
// frame encoded once.
func (p *parcel[T]) prepared() bool { return p.frame != nil || p.err != nil }

// frameFor returns the frame for a connection whose JSONCodec is codec:
// the parcel's own for the codecs of package wschan (which write the same
// bytes: FuzzJSONCodecs), else codec's encoding of v, made for that
// connection now, while v is as it was at Broadcast.
func (p *parcel[T]) frameFor(codec wschan.JSONCodec) ([]byte, error) {
	switch codec.(type) {
	case nil, wschan.FastJSON, wschan.StdJSON:
		return p.frame, p.err
	}
	return codec.AppendEncode(nil, p.v)
}

// envelope is what travels over the backplane: a header line of
// space-separated fields (format version, publisher node, the publisher's
// sequence number for the room, publish time in Unix nanoseconds, and the
// quoted target member name, empty for the whole room), then the payload.
//
// Rolling upgrades: this version writes "h1". It reads h1 and any later
// "hN" whose first five fields are h1's, ignoring what a later version
// adds after them on the header line, so that servers of this version and
// the next can share a room while a deployment rolls; a message it cannot
// read (another format, or a version before h1) is counted
// (Stats.Malformed) and logged, never delivered half-read.
type envelope struct {
	node   string
	seq    uint64
	sentAt int64
	to     string
	body   []byte
}

const envelopeVersion = "h1"

func appendEnvelope(dst []byte, e envelope) []byte {
	return fmt.Appendf(dst, "%s %s %d %d %q\n", envelopeVersion, e.node, e.seq, e.sentAt, e.to)
}

var errEnvelope = errors.New("not a hub message")

// errEnvelopeVersion is a hub message of a version this one cannot read.
var errEnvelopeVersion = errors.New("a hub message of an unknown version")

// envelopeVersionOK reports whether v is h1 or a later hN.
func envelopeVersionOK(v []byte) bool {
	if len(v) < 2 || v[0] != 'h' || v[1] == '0' {
		return false
	}
	n, err := strconv.ParseUint(string(v[1:]), 10, 32)
	return err == nil && n >= 1
}

func parseEnvelope(msg []byte) (envelope, error) {
	var e envelope
	line, body, ok := bytes.Cut(msg, []byte{'\n'})
	if !ok {
		return e, errEnvelope
	}
	f := bytes.SplitN(line, []byte{' '}, 5)
	if len(f) != 5 {
		return e, errEnvelope
	}
	if !envelopeVersionOK(f[0]) {
		return e, errEnvelopeVersion
	}
	var err error
	e.node = string(f[1])
	if e.seq, err = strconv.ParseUint(string(f[2]), 10, 64); err != nil {
		return e, errEnvelope
	}
	if e.sentAt, err = strconv.ParseInt(string(f[3]), 10, 64); err != nil {
		return e, errEnvelope
	}
	// The target is quoted; a later version may add fields after it.
	quoted, err := strconv.QuotedPrefix(string(f[4]))
	if err != nil {
		return e, errEnvelope
	}
	if rest := f[4][len(quoted):]; len(rest) > 0 && (string(f[0]) == envelopeVersion || rest[0] != ' ') {
		return e, errEnvelope // h1 has nothing after the target
	}
	if e.to, err = strconv.Unquote(quoted); err != nil {
		return e, errEnvelope
	}
	e.body = body
	return e, nil
}
