package hub

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestEnvelopeVersions: this version reads its own envelopes and a later
// version's that add fields after the first five; it refuses other
// formats, versions before h1, and an h1 header with anything after the
// target.
func TestEnvelopeVersions(t *testing.T) {
	for _, tc := range []struct {
		msg string
		ok  bool
		to  string
	}{
		{"h1 node 3 4 \"\"\nbody", true, ""},
		{"h1 node 3 4 \"ann bob\"\nbody", true, "ann bob"},
		{"h2 node 3 4 \"ann\" epoch=x more\nbody", true, "ann"},
		{"h17 node 3 4 \"\" \nbody", true, ""},
		{"h1 node 3 4 \"\" extra\nbody", false, ""},
		{"h0 node 3 4 \"\"\nbody", false, ""},
		{"hx node 3 4 \"\"\nbody", false, ""},
		{"v1 node 3 4 \"\"\nbody", false, ""},
		{"h2 node 3 4 \"\"x\nbody", false, ""},
		{"h1 node 3 4\nbody", false, ""},
		{"no header", false, ""},
	} {
		e, err := parseEnvelope([]byte(tc.msg))
		if (err == nil) != tc.ok || tc.ok && (e.to != tc.to || string(e.body) != "body" || e.seq != 3) {
			t.Errorf("%q: %+v, %v; want ok %v", tc.msg, e, err, tc.ok)
		}
	}
}

// TestMixedVersionsInARoom: a server of a later envelope version beside
// this one: its messages are delivered; a server of an incompatible format
// is counted in Malformed and logged, and its messages are not delivered.
func TestMixedVersionsInARoom(t *testing.T) {
	b := newBus()
	h := New[string](Options{Backplane: b.join(), Logger: quiet()})
	defer h.Close()
	peer := b.join()
	c := newConn(8)
	h.Join("r", "ann", c.sender, c.disconnect, c.done)
	send := func(header string) {
		if _, err := peer.Publish(context.Background(), []Message{{Room: "r", Data: []byte(header + "\nhello")}}); err != nil {
			t.Fatal(err)
		}
	}
	send(fmt.Sprintf("h2 later-node 1 %d \"\" newfield=1", time.Now().UnixNano()))
	if v := c.next(t); v != "hello" {
		t.Fatalf("got %q", v)
	}
	send("x1 other-format")
	send(fmt.Sprintf("h2 later-node 2 %d \"\"", time.Now().UnixNano()))
	if v := c.next(t); v != "hello" {
		t.Fatalf("got %q", v)
	}
	if st := h.Stats(); st.Malformed != 1 || st.Received != 2 {
		t.Fatalf("%+v, want one malformed and two received", st)
	}
}
