package hub

import (
	"strings"
	"testing"
)

// FuzzParsePosition: whatever a client sends, parsing answers in bounded
// time without panicking, and what it accepts is exactly what String
// writes.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"", "0123456789abcdef-1", "0123456789abcdef-18446744073709551615",
		"0123456789abcdef-18446744073709551616", "0123456789ABCDEF-1", "0123456789abcdef-01", "0123456789abcdef--1",
		"0123456789abcdef-", "-1", strings.Repeat("f", 16) + "-" + strings.Repeat("9", 30), "0123456789abcdef-1 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePosition(s)
		if err != nil {
			if p != (Position{}) {
				t.Fatalf("%q: an error and %+v", s, p)
			}
			return
		}
		if p.String() != s {
			t.Fatalf("%q parsed as %+v, which writes %q", s, p, p.String())
		}
	})
}
