package wschan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	segjson "github.com/segmentio/encoding/json"
)

// JSONCodec encodes and decodes the values of JSON connections: those of
// JSON(T{}), and of Handler[T] for a T that is neither string nor []byte.
// Options.JSONCodec chooses it.
type JSONCodec interface {
	// Decode decodes the first JSON value of data into v, a non-nil
	// pointer, as encoding/json's Decoder does: what follows the first
	// value is ignored, unknown fields are ignored, field names match
	// without regard to case, and json.Unmarshaler is honoured.
	Decode(data []byte, v any) error
	// AppendEncode appends v's encoding to dst as encoding/json's Encoder
	// writes it: HTML characters escaped, map keys sorted, json.Marshaler
	// honoured, and a trailing newline.
	AppendEncode(dst []byte, v any) ([]byte, error)
}

// StdJSON is the JSONCodec of encoding/json itself: its Decoder and its
// Encoder, as the original used them.
type StdJSON struct{}

// Decode decodes the first value of data with an encoding/json Decoder.
func (StdJSON) Decode(data []byte, v any) error {
	return json.NewDecoder(bytes.NewReader(data)).Decode(v)
}

// AppendEncode appends an encoding/json Encoder's output for v to dst.
func (StdJSON) AppendEncode(dst []byte, v any) ([]byte, error) {
	w := bytes.NewBuffer(dst)
	err := json.NewEncoder(w).Encode(v)
	return w.Bytes(), err
}

// FastJSON is the default JSONCodec: github.com/segmentio/encoding/json,
// which reads and writes what encoding/json does (FuzzJSONCodecs compares
// the two on every input) several times faster. Its error messages differ
// in wording.
type FastJSON struct{}

// Decode parses the first value of data; the rest is ignored, as an
// encoding/json Decoder ignores it.
func (FastJSON) Decode(data []byte, v any) error {
	_, err := segjson.Parse(data, v, 0)
	return err
}

// AppendEncode appends v's encoding, HTML escaped with sorted map keys,
// and a newline, as encoding/json's Encoder writes it.
func (FastJSON) AppendEncode(dst []byte, v any) ([]byte, error) {
	b, err := segjson.Append(dst, v, segjson.EscapeHTML|segjson.SortMapKeys)
	if err != nil {
		return dst, err
	}
	return append(b, '\n'), nil
}

// jsonOut is how a connection's JSON values go out, on either front: a
// value's frame is the one prepared for it (Connection.Prepare), when the
// value is a pointer and one was, else its encoding by codec as it is now,
// in a buffer from bufs that is held until the frame is written.
type jsonOut struct {
	codec JSONCodec
	bufs  *sync.Pool
	buf   *[]byte
	prep  *preparedFrames
}

// frame returns v's frame; pointer says whether v may have been prepared.
// An error names v's type.
func (j *jsonOut) frame(v any, pointer bool) ([]byte, error) {
	var (
		frame    []byte
		err      error
		prepared bool
	)
	if pointer {
		frame, err, prepared = j.prep.take(v)
	}
	if !prepared {
		j.buf = j.bufs.Get().(*[]byte)
		*j.buf, err = j.codec.AppendEncode((*j.buf)[:0], v)
		frame = *j.buf
	}
	if err != nil {
		return nil, fmt.Errorf("encode %T as JSON: %w", v, err)
	}
	return frame, nil
}

// release puts the last frame's buffer back in the pool, if any.
func (j *jsonOut) release() {
	if j.buf != nil {
		*j.buf = (*j.buf)[:0]
		j.bufs.Put(j.buf)
		j.buf = nil
	}
}
