package kind

import (
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
