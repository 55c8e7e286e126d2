package redis

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/go-macaron/sockets/hub"
)

// presenceOf asks node for room's presence until it equals want.
func awaitPresence(t *testing.T, node *nodeProc, room string, want []hub.Presence) {
	t.Helper()
	deadline := time.Now().Add(3 * wait)
	var got []hub.Presence
	for {
		got = nil
		node.getJSON(t, "/presence?room="+url.QueryEscape(room), &got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence of %s from %s: %v, want %v", room, node.name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPresenceAndDirectMessages: three server processes; presence lists a
// room's members on every server; SendTo reaches one member wherever it
// is; a member that leaves is gone at once, and the members of a server
// that dies without leaving expire after PresenceTTL (1 s in the nodes).
func TestPresenceAndDirectMessages(t *testing.T) {
	r := startRedis(t)
	addrs := []string{r.addr()}
	s0 := startNodeProc(t, "s0", addrs, false, false)
	s1 := startNodeProc(t, "s1", addrs, false, false)
	s2 := startNodeProc(t, "s2", addrs, false, false)
	lobby := []string{"lobby"}
	ann0 := dialMember(t, s0, "ann", lobby)
	bob := dialMember(t, s1, "bob", lobby)
	cid := dialMember(t, s2, "cid", lobby)
	ann2 := dialMember(t, s2, "ann", lobby) // the same name on another server
	for _, n := range []*nodeProc{s0, s1, s2} {
		n.waitSubscribed(t, lobby)
	}
	all := []hub.Presence{{Name: "ann", Server: "s0"}, {Name: "ann", Server: "s2"}, {Name: "bob", Server: "s1"}, {Name: "cid", Server: "s2"}}
	for _, n := range []*nodeProc{s0, s1, s2} {
		awaitPresence(t, n, "lobby", all)
	}

	// A direct message from s0 to bob, on s1, and to both anns; then a
	// fence to each member.
	resp, err := http.Get("http://" + s0.addr + "/sendto?room=lobby&name=bob&text=" + url.QueryEscape("direct|to-bob"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + s0.addr + "/sendto?room=lobby&name=ann&text=" + url.QueryEscape("direct|to-ann"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The fence comes from the same publisher (s0) as the direct
	// messages, so it arrives after them: order holds per publisher, not
	// across publishers.
	for _, name := range []string{"ann", "bob", "cid"} {
		resp, err = http.Get("http://" + s0.addr + "/sendto?room=lobby&name=" + name + "&text=" + url.QueryEscape("fence|f"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, m := range []*member{ann0, bob, cid, ann2} {
		deadline := time.Now().Add(wait)
		for len(m.texts("lobby", "fence")) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s never received the fence", m.name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for m, want := range map[*member][]string{ann0: {"to-ann"}, ann2: {"to-ann"}, bob: {"to-bob"}, cid: nil} {
		if got := m.texts("lobby", "direct"); !slices.Equal(got, want) {
			t.Fatalf("%s received direct messages %v, want %v", m.name, got, want)
		}
	}

	// cid leaves: gone from presence at once (no TTL to wait for).
	_ = cid.c.Close()
	awaitPresence(t, s0, "lobby", []hub.Presence{{Name: "ann", Server: "s0"}, {Name: "ann", Server: "s2"}, {Name: "bob", Server: "s1"}})

	// s2 dies without leaving: its ann expires.
	s2.kill()
	awaitPresence(t, s1, "lobby", []hub.Presence{{Name: "ann", Server: "s0"}, {Name: "bob", Server: "s1"}})

	// s1 stops cleanly: bob is removed as it closes.
	s1.stop()
	awaitPresence(t, s0, "lobby", []hub.Presence{{Name: "ann", Server: "s0"}})
}
