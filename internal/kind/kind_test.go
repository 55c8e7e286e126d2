package kind

import (
	"encoding/json"
	"reflect"
	"testing"
)

type (
	name   string
	raw    []byte
	items  []int
	record struct{ A int }
)

func TestOf(t *testing.T) {
	for _, c := range []struct {
		t    reflect.Type
		want Kind
	}{
		{reflect.TypeFor[string](), Text},
		{reflect.TypeFor[name](), Text},
		{reflect.TypeFor[[]byte](), Binary},
		{reflect.TypeFor[raw](), Binary},
		{reflect.TypeFor[items](), JSON},
		{reflect.TypeFor[[]string](), JSON},
		{reflect.TypeFor[record](), JSON},
		{reflect.TypeFor[*record](), JSON},
		{reflect.TypeFor[*string](), JSON},
		{reflect.TypeFor[map[string]any](), JSON},
		{reflect.TypeFor[int](), JSON},
	} {
		if got := Of(c.t); got != c.want {
			t.Errorf("Of(%v) = %v, want %v", c.t, got, c.want)
		}
	}
}

func TestConversions(t *testing.T) {
	if s := String(name("héllo")); s != "héllo" {
		t.Fatalf("String = %q", s)
	}
	if v := FromString[name]("x"); v != name("x") {
		t.Fatalf("FromString = %q", v)
	}
	if b := Bytes(raw{1, 2}); len(b) != 2 || b[1] != 2 {
		t.Fatalf("Bytes = %v", b)
	}
	if v := FromBytes[raw]([]byte{3}); len(v) != 1 || v[0] != 3 {
		t.Fatalf("FromBytes = %v", v)
	}
}

// TestDecodeAppend: each kind's payload goes out and comes back as it was.
func TestDecodeAppend(t *testing.T) {
	enc := func(dst []byte, v any) ([]byte, error) {
		b, err := json.Marshal(v)
		return append(dst, b...), err
	}
	if b, _ := Append(Text, []byte("<"), name("hé"), enc); string(b) != "<hé" {
		t.Fatalf("Append(Text) = %q", b)
	}
	if v, _ := Decode[name](Text, []byte("hé"), json.Unmarshal); v != "hé" {
		t.Fatalf("Decode(Text) = %q", v)
	}
	if v, _ := Decode[raw](Binary, nil, json.Unmarshal); v == nil || len(v) != 0 {
		t.Fatalf("Decode(Binary) of nothing = %#v, want an empty, non-nil slice", v)
	}
	p := []byte{1, 2}
	v, _ := Decode[[]byte](Binary, p, json.Unmarshal)
	p[0] = 9
	if v[0] != 1 {
		t.Fatal("Decode(Binary) shares the payload's array")
	}
	b, _ := Append(JSON, nil, &record{A: 3}, enc)
	r, err := Decode[*record](JSON, b, json.Unmarshal)
	if err != nil || r.A != 3 {
		t.Fatalf("JSON round trip: %+v, %v", r, err)
	}
	if r, _ := Decode[*record](JSON, []byte("null"), json.Unmarshal); r == nil {
		t.Fatal(`Decode(JSON) of "null" into a pointer type gave nil, want a pointer to the zero value`)
	}
	if _, err := Decode[record](JSON, []byte("{"), json.Unmarshal); err == nil {
		t.Fatal("Decode(JSON) of a broken document: no error")
	}
}
