package encodeonce

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

type codecA struct{}

func (codecA) AppendEncode(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(append(dst, b...), '\n'), err
}

type codecB struct{}

func (codecB) AppendEncode(dst []byte, v any) ([]byte, error) { return append(dst, "B"...), nil }

type value struct{ S string }

func TestEncodedOnce(t *testing.T) {
	tab := &Table{}
	v := &value{"x"}
	if _, ok, _ := tab.Encoded(v, codecA{}); ok {
		t.Fatal("an unmarked value was found")
	}
	tab.Mark(v)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, ok, err := tab.Encoded(v, codecA{})
			if !ok || err != nil || string(b) != "{\"S\":\"x\"}\n" {
				t.Errorf("got %q %v %v", b, ok, err)
			}
		}()
	}
	wg.Wait()
	// Another codec encodes for itself.
	if _, ok, _ := tab.Encoded(v, codecB{}); ok {
		t.Fatal("bytes of codec A were offered to codec B")
	}
}

// TestBounded: the table forgets its oldest marks beyond maxEntries, and
// beyond maxBytes of encodings.
func TestBounded(t *testing.T) {
	tab := &Table{}
	vs := make([]*value, maxEntries+10)
	for i := range vs {
		vs[i] = &value{"v"}
		tab.Mark(vs[i])
	}
	if n := tab.live.Load(); n != maxEntries {
		t.Fatalf("%d entries, want %d", n, maxEntries)
	}
	if _, ok, _ := tab.Encoded(vs[0], codecA{}); ok {
		t.Fatal("the oldest mark was kept")
	}
	if _, ok, _ := tab.Encoded(vs[len(vs)-1], codecA{}); !ok {
		t.Fatal("the newest mark was forgotten")
	}

	big := strings.Repeat("x", 1<<20)
	tab = &Table{}
	var marked []*value
	for range 10 { // 10 MiB of encodings
		v := &value{big}
		tab.Mark(v)
		if _, ok, _ := tab.Encoded(v, codecA{}); !ok {
			t.Fatal("a fresh mark was not found")
		}
		marked = append(marked, v)
	}
	tab.Mark(&value{"last"}) // a mark trims to the budget
	if held := tab.bytes.Load(); held > maxBytes {
		t.Fatalf("the table holds %d bytes of encodings, over its %d", held, maxBytes)
	}
	if _, ok, _ := tab.Encoded(marked[0], codecA{}); ok {
		t.Fatal("the oldest big encoding was kept over the budget")
	}
}
