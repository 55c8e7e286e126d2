package wschan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
)

// FuzzOriginDefault: under the default AllowedOrigin, an origin is accepted
// only if it is exactly the request's host over http or https.
func FuzzOriginDefault(f *testing.F) {
	for _, seed := range [][2]string{
		{"example.com", "http://example.com"}, {"my.site.com", "http://myxsite.com"},
		{"127.0.0.1:8080", "evil-http://127.0.0.1:8080"}, {"a(b", "http://a(b"},
		{"[::1]:80", "https://[::1]:80"}, {"x.com", "http://x.com.evil.com"}, {"", "http://"},
	} {
		f.Add(seed[0], seed[1])
	}
	policy := newOriginPolicy(defaultAllowedOrigin, f.Errorf)
	f.Fuzz(func(t *testing.T, host, origin string) {
		if policy.allowed(host, origin) && origin != "http://"+host && origin != "https://"+host {
			t.Fatalf("host %q: origin %q accepted", host, origin)
		}
	})
}

// FuzzJSONReceive: whatever a peer sends, decoding never panics, and a
// message that decodes gives the value encoding/json's Decoder gives.
func FuzzJSONReceive(f *testing.F) {
	for _, seed := range []string{`{"from":"a","text":"b"}`, `null`, `{"text":`, `[1,2]`, `{"text":5}`, ``, " \n",
		`{"text":"one"}{"text":"two"}`, `{"from":"\ud800"}`, `{"text":"x"} garbage`} {
		f.Add([]byte(seed))
	}
	b := &jsonBox{elem: reflect.TypeOf(ChatMessage{}), jsonOut: jsonOut{codec: FastJSON{}, bufs: &sync.Pool{New: func() any { return new([]byte) }}}}
	f.Fuzz(func(t *testing.T, p []byte) {
		err := b.decode(p)
		var want ChatMessage
		werr := json.NewDecoder(bytes.NewReader(p)).Decode(&want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decode error %v, encoding/json %v", err, werr)
		}
		if err == nil && *b.in.Interface().(*ChatMessage) != want {
			t.Fatalf("decoded %+v, want %+v", b.in.Interface(), want)
		}
	})
}

// FuzzCloseCode: every code a handler can send maps to a frame that can go
// on the wire (or, for 1006 alone, to no frame), and valid codes are kept.
func FuzzCloseCode(f *testing.F) {
	for _, seed := range []int{0, 999, 1000, 1001, 1004, 1005, 1006, 1011, 1014, 1015, 1016, 2999, 3000, 4000, 4999, 5000, 70000, -1} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, code int) {
		act, wire, ok := closeCode(code)
		rfc := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
		switch {
		case code == 1006:
			if act != actDrop || !ok {
				t.Fatalf("1006: %v %v %v, want a drop", act, wire, ok)
			}
		case code == 1005:
			if act != actClose || wire != 1005 || !ok {
				t.Fatalf("1005: %v %v %v, want an empty close frame", act, wire, ok)
			}
		case rfc:
			if act != actClose || int(wire) != code || !ok {
				t.Fatalf("%d: %v %v %v, want it sent as it is", code, act, wire, ok)
			}
		default:
			if act != actClose || wire != 1011 || ok {
				t.Fatalf("%d: %v %v %v, want 1011 instead", code, act, wire, ok)
			}
		}
	})
}

// ChatMessage is the original's example type.
type ChatMessage struct {
	From string `json:"from"`
	Text string `json:"text"`
}
