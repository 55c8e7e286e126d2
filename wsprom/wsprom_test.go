package wsprom_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/go-macaron/sockets/hub"
	"github.com/go-macaron/sockets/wschan"
	"github.com/go-macaron/sockets/wsprom"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLint: every metric passes client_golang's lint (names, units,
// suffixes, help).
func TestLint(t *testing.T) {
	h := hub.New[string](hub.Options{})
	defer h.Close()
	c := wsprom.New(wsprom.Config{Hubs: map[string]wsprom.HubStats{"chat": h}})
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestCountsAndKeepsTheUsersTrace: a collector joins the trace the options
// had; both see every connection; the figures are the connections'.
func TestCountsAndKeepsTheUsersTrace(t *testing.T) {
	var mine int
	o := &wschan.Options{SkipLogging: true, Trace: &wschan.ConnTrace{Ended: func(*wschan.Connection) { mine++ }}}
	c := wsprom.New(wsprom.Config{Options: []*wschan.Options{o}})
	ended := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wschan.Handler(func(c *wschan.Conn[string]) {
			for {
				select {
				case m := <-c.Receiver:
					c.Sender <- m
				case <-c.Done:
					return
				}
			}
		}, o).ServeHTTP(w, r)
		ended <- struct{}{}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"),
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	}
	_ = ws.Close(4001, "bye")
	<-ended
	resp, err := http.Get(srv.URL) // no Origin: 403
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-ended

	want := `
# HELP sockets_closes_total Ended connections by the code of the close frame that ended them (0: dropped without one; 3xxx, 4xxx: those ranges; other).
# TYPE sockets_closes_total counter
sockets_closes_total{code="4xxx"} 1
# HELP sockets_handshakes_total WebSocket handshakes by the status answered: 101 upgraded, 403 origin, 405 method, 400 or 426 handshake, 501 not hijackable.
# TYPE sockets_handshakes_total counter
sockets_handshakes_total{status="101"} 1
sockets_handshakes_total{status="403"} 1
# HELP sockets_message_bytes_total Payload bytes of the messages read from (in) and written to (out) the peers.
# TYPE sockets_message_bytes_total counter
sockets_message_bytes_total{direction="in"} 5
sockets_message_bytes_total{direction="out"} 5
# HELP sockets_ended_total Ended connections by who ended them: peer, handler, server or network.
# TYPE sockets_ended_total counter
sockets_ended_total{by="peer"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"sockets_closes_total", "sockets_handshakes_total", "sockets_message_bytes_total", "sockets_ended_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "sockets_connection_duration_seconds"); n != 1 {
		t.Errorf("%d duration histograms", n)
	}
	if mine != 1 {
		t.Errorf("the options' own trace saw %d ends, want 1", mine)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("the pedantic registry refuses it: %v", err)
	}
}

func TestCodeLabel(t *testing.T) {
	for code, want := range map[int]string{0: "0", 1000: "1000", 1015: "1015", 1016: "other", 2999: "other",
		3000: "3xxx", 3999: "3xxx", 4000: "4xxx", 4999: "4xxx", 5000: "other", -1: "other", 65535: "other"} {
		if got := wsprom.CodeLabel(code); got != want {
			t.Errorf("CodeLabel(%d) = %q, want %q", code, got, want)
		}
	}
}

// TestDashboardNamesExist: every metric docs/grafana's dashboard queries is
// one the collector exports, so the two cannot drift apart.
func TestDashboardNamesExist(t *testing.T) {
	dash, err := os.ReadFile("../docs/grafana/sockets-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New[string](hub.Options{})
	defer h.Close()
	c := wsprom.New(wsprom.Config{Hubs: map[string]wsprom.HubStats{"chat": h}})
	descs := make(chan *prometheus.Desc, 64)
	c.Describe(descs)
	close(descs)
	exported := map[string]bool{}
	for d := range descs {
		name := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())[1]
		exported[name] = true
	}
	used := regexp.MustCompile(`\bsockets_[a-z_]+`).FindAllString(string(dash), -1)
	if len(used) < 10 {
		t.Fatalf("the dashboard queries %d metrics of ours", len(used))
	}
	for _, name := range used {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !exported[base] {
			t.Errorf("the dashboard queries %s, which the collector does not export", name)
		}
	}
}
