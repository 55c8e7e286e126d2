package wschan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// upper is a json.Unmarshaler and json.Marshaler: it keeps strings in upper
// case.
type upper string

func (u *upper) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*u = upper(strings.ToUpper(s))
	return nil
}

func (u upper) MarshalJSON() ([]byte, error) { return json.Marshal("<" + string(u) + ">") }

// probeDoc has what the codecs must agree on: tags, omitempty, the string
// option, nested and embedded structs, pointers, maps, slices, any, numbers,
// and custom (un)marshalers.
type probeDoc struct {
	Name    string            `json:"name"`
	Count   int               `json:"count,omitempty"`
	Ratio   float64           `json:"ratio"`
	Quoted  int64             `json:"quoted,string"`
	Flag    *bool             `json:"flag"`
	Tags    []string          `json:"tags"`
	Attrs   map[string]int    `json:"attrs"`
	Any     any               `json:"any"`
	Raw     json.RawMessage   `json:"raw"`
	Up      upper             `json:"up"`
	Inner   *probeDoc         `json:"inner,omitempty"`
	Skipped string            `json:"-"`
	Bytes   []byte            `json:"bytes"`
	Nested  map[string][]uint `json:"nested"`
	embedded
}

type embedded struct {
	Depth uint8 `json:"depth"`
}

// FuzzJSONCodecs: FastJSON accepts exactly what encoding/json's Decoder
// accepts (first value taken, the rest ignored, unknown fields ignored,
// field names matched without regard to case, null, Unmarshaler) into equal
// values, and encodes every such value to the same bytes as encoding/json's
// Encoder (HTML escaped, map keys sorted, the string option, Marshaler,
// trailing newline).
func FuzzJSONCodecs(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","count":2,"ratio":1.5,"quoted":"42","flag":true,"tags":["x","<y>"],"attrs":{"b":2,"a":1},` +
			`"any":{"k":[1,"2",null,true]},"raw":{"z":1},"up":"hi","inner":{"name":"in"},"bytes":"AQID","nested":{"k":[1,2]},"depth":3}`,
		`{"NAME":"case","Depth":1}`, `null`, `{}`, `{"name":"a"} trailing`, `{"name":"a"}{"name":"b"}`, `{"count":1.5}`,
		`{"quoted":42}`, `{"name":"\u2028\u003c\ud800"}`, `{"name":"` + "\xff" + `"}`, `[1]`, `"str"`, ``, ` `, `{"attrs":{"a":"x"}}`,
		`{"any":1e400}`, `{"depth":300}`, `{"name":"a","name":"b"}`, `{"unknown":{"deep":[1]}}`, `123abc`, `{"ratio":-0}`,
	} {
		f.Add([]byte(seed))
	}
	std, fast := StdJSON{}, FastJSON{}
	f.Fuzz(func(t *testing.T, p []byte) {
		var want, got probeDoc
		werr := std.Decode(p, &want)
		gerr := fast.Decode(p, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json says %v, FastJSON %v", p, werr, gerr)
		}
		if werr != nil {
			return
		}
		if !reflect.DeepEqual(normalRaw(want), normalRaw(got)) {
			t.Fatalf("%q: encoding/json decodes %+v, FastJSON %+v", p, want, got)
		}
		wb, werr := std.AppendEncode(nil, want)
		gb, gerr := fast.AppendEncode(nil, want)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(wb, gb) {
			t.Fatalf("encoding %+v: encoding/json %q (%v), FastJSON %q (%v)", want, wb, werr, gb, gerr)
		}
	})
}

// normalRaw compacts RawMessage fields, which each decoder copies with its
// own whitespace rules, so that the comparison is of the values.
func normalRaw(d probeDoc) probeDoc {
	if d.Raw != nil {
		var b bytes.Buffer
		if json.Compact(&b, d.Raw) == nil {
			d.Raw = b.Bytes()
		}
	}
	if d.Inner != nil {
		in := normalRaw(*d.Inner)
		d.Inner = &in
	}
	return d
}

// TestJSONCodecOption: a plugged codec is used for both ways, on both
// fronts' JSON paths.
func TestJSONCodecOption(t *testing.T) {
	c := &countingCodec{}
	b := newChanBox[*probeDoc](nil, nil, nil, c, nil)
	if err := b.decode([]byte(`{"name":"x"}`)); err != nil || b.in.Name != "x" || c.decodes != 1 {
		t.Fatalf("decode: %v %+v %d", err, b.in, c.decodes)
	}
	_ = fmt.Sprint(c)
}

// countingCodec is StdJSON, counting its decodes.
type countingCodec struct {
	StdJSON
	decodes int
}

func (c *countingCodec) Decode(data []byte, v any) error {
	c.decodes++
	return c.StdJSON.Decode(data, v)
}
