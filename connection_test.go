package sockets_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// statsHandler echoes, answers "stats" with the connection's Stats as
// JSON, and closes with a reason on "close <reason>".
func statsHandler(c *wschan.Conn[string]) {
	for {
		select {
		case m := <-c.Receiver:
			switch {
			case m == "stats":
				b, _ := json.Marshal(c.Connection.Stats())
				c.Sender <- string(b)
			case strings.HasPrefix(m, "close "):
				_ = c.Connection.CloseWithReason(4001, strings.TrimPrefix(m, "close "))
			default:
				c.Sender <- m
			}
		case <-c.Done:
			return
		}
	}
}

// TestConnectionStats: messages and bytes both ways, the last ping's round
// trip, when it connected; on both fronts.
func TestConnectionStats(t *testing.T) {
	bothFronts(t, stringsMW, func(t *testing.T, f front[string]) {
		o := quietOptions()
		o.PingPeriod = 20 * time.Millisecond
		s := sockettest.NewServer(t, f.serve(o, statsHandler))
		c := s.Dial("/ws")
		start := time.Now()
		for _, m := range []string{"a", "bb", "ccc"} {
			c.SendText(m)
			c.ExpectText(m)
		}
		var st wschan.Stats
		for deadline := time.Now().Add(5 * time.Second); st.RTT == 0; {
			// The client answers pings as it reads; ask until one was.
			c.SendText("stats")
			if err := json.Unmarshal(c.Next().Data, &st); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no ping round trip measured: %+v", st)
			}
		}
		if st.MessagesIn < 4 || st.BytesIn < 6+5 || st.MessagesOut < 3 || st.BytesOut < 6 {
			t.Fatalf("stats %+v: want at least 4 messages (11 bytes) in and 3 (6 bytes) out", st)
		}
		if st.ConnectedAt.IsZero() || st.ConnectedAt.After(start) || st.RTT <= 0 || st.RTT > 5*time.Second {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestCloseWithReason: the handler closes with a code and a reason (made
// valid UTF-8 and cut to 123 bytes on a rune boundary), and the close
// record tells both frames of the handshake; on both fronts.
func TestCloseWithReason(t *testing.T) {
	bothFronts(t, stringsMW, func(t *testing.T, f front[string]) {
		s := sockettest.NewServer(t, f.serve(quietOptions(), statsHandler))
		for _, c := range []struct{ reason, wire string }{
			{"bye ✓", "bye ✓"},
			{"bad \xff byte", "bad \uFFFD byte"},
			{strings.Repeat("é", 100), strings.Repeat("é", 61)}, // 122 bytes: the 62nd é would make 124
		} {
			cl := s.Dial("/ws")
			cl.SendBinary([]byte("close " + c.reason)) // binary: the bad byte is allowed there
			cl.ExpectClose(4001, c.wire)
			r := cl.ServerRecord()
			if r.By != wschan.EndedByHandler || r.Code != 4001 || r.Reason != c.wire || r.SentCode != 4001 ||
				r.ReceivedCode != 4001 || !r.Clean || r.Cause != nil || !utf8.ValidString(r.Reason) {
				t.Errorf("reason %q: record %+v", c.reason, r)
			}
		}
	})
}

// TestCloseRecordBothWays: the peer's close is received and echoed; a drop
// has no frame either way.
func TestCloseRecordBothWays(t *testing.T) {
	bothFronts(t, stringsMW, func(t *testing.T, f front[string]) {
		s := sockettest.NewServer(t, f.serve(quietOptions(), statsHandler))
		c := s.Dial("/ws")
		c.Close(4002, "leaving")
		r := c.ServerRecord()
		if r.By != wschan.EndedByPeer || r.ReceivedCode != 4002 || r.ReceivedReason != "leaving" ||
			r.SentCode != 4002 || !r.Clean || r.Cause == nil {
			t.Errorf("peer close: record %+v", r)
		}
		c = s.Dial("/ws")
		c.Drop()
		r = c.ServerRecord()
		if r.By != wschan.EndedByNetwork || r.SentCode != 0 || r.ReceivedCode != 0 || r.Clean || r.Cause == nil {
			t.Errorf("drop: record %+v", r)
		}
	})
}
