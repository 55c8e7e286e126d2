package wschan

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
)

// TestEndingsSeenFromBothEnds: each way a server's connection ends, with a
// client of this package on the other end (or coder's raw client where it
// must misbehave): the server's cause and close record, the client's, and
// the Metrics and traces that watched it, joined on one Options.Trace.
func TestEndingsSeenFromBothEnds(t *testing.T) {
	type value struct {
		F float64 `json:"f"`
	}
	metrics := &Metrics{}
	var mine, perRequest atomic.Int64
	o := &Options{
		Slog:  slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Trace: JoinTraces(metrics.Trace(), nil, &ConnTrace{Ended: func(*Connection) { mine.Add(1) }}),
	}
	records := make(chan CloseRecord, 1)
	serve := func(h func(c *Conn[*value])) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r = r.WithContext(WithConnTrace(r.Context(), &ConnTrace{
				Upgraded: func(*Connection) { perRequest.Add(1) },
				Ended: func(c *Connection) {
					rec, _ := c.CloseRecord()
					records <- rec
				},
			}))
			Handler(h, o).ServeHTTP(w, r) // a panic goes on to net/http, which logs it
		}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the panic case's line
		srv.Start()
		t.Cleanup(srv.Close)
		return "ws" + strings.TrimPrefix(srv.URL, "http")
	}
	header := func(url string) http.Header {
		return http.Header{"Origin": {"http://" + strings.TrimPrefix(url, "ws://")}}
	}
	ctx := context.Background()
	waitDone := func(c *Conn[*value]) {
		<-c.Done
	}
	// serverClosed1011 is a client of this package that sees the server
	// close with 1011.
	serverClosed1011 := func(t *testing.T, url string) {
		c, _, err := Dial[*value](ctx, url, &DialOptions{Header: header(url), Options: &Options{SkipLogging: true}})
		if err != nil {
			t.Fatal(err)
		}
		var ce websocket.CloseError
		if err := endOf(t, c); !errors.As(err, &ce) || ce.Code != 1011 {
			t.Errorf("the client's cause %v, want the server's 1011", err)
		}
	}
	for _, tc := range []struct {
		name    string
		handler func(c *Conn[*value])
		client  func(t *testing.T, url string)
		code    int
		by      EndedBy
		cause   bool
	}{
		{"bad JSON: 1007", waitDone, func(t *testing.T, url string) {
			c, _, err := Dial[string](ctx, url, &DialOptions{Header: header(url), Options: &Options{SkipLogging: true}})
			if err != nil {
				t.Fatal(err)
			}
			c.Sender <- `{"f":`
			var ce websocket.CloseError
			if err := endOf(t, c); !errors.As(err, &ce) || ce.Code != 1007 {
				t.Errorf("the client's cause %v, want the server's 1007", err)
			}
		}, 1007, EndedByPeer, true},
		{"invalid UTF-8: 1007", waitDone, func(t *testing.T, url string) {
			ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header(url)})
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			_ = ws.Write(ctx, websocket.MessageText, []byte{'"', 0xc3, 0x28, '"'})
			_, _, err = ws.Read(ctx)
			if websocket.CloseStatus(err) != 1007 {
				t.Errorf("the client read %v, want 1007", err)
			}
		}, 1007, EndedByPeer, true},
		{"a value that cannot be encoded: 1011", func(c *Conn[*value]) {
			c.Sender <- &value{F: math.NaN()}
			<-c.Done
		}, serverClosed1011, 1011, EndedByServer, true},
		{"the handler panics: 1011", func(c *Conn[*value]) {
			panic("handler bug")
		}, serverClosed1011, 1011, EndedByServer, false},
		{"the client closes: 1000", waitDone, func(t *testing.T, url string) {
			c, _, err := Dial[*value](ctx, url, &DialOptions{Header: header(url), Options: &Options{SkipLogging: true}})
			if err != nil {
				t.Fatal(err)
			}
			_ = c.Connection.Close(1000)
			if err := c.Connection.Close(4000); !errors.Is(err, ErrConnectionClosed) {
				t.Errorf("a second close returned %v", err)
			}
			if err := endOf(t, c); err != nil {
				t.Errorf("the client's own normal close put %v on its error channel", err)
			}
		}, 1000, EndedByPeer, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(tc.handler)
			tc.client(t, url)
			rec := recvWithin(t, records, "the server's close record")
			if rec.Code != tc.code || rec.By != tc.by || (rec.Cause != nil) != tc.cause {
				t.Errorf("the server's record %+v, want code %d by %v, a cause: %v", rec, tc.code, tc.by, tc.cause)
			}
		})
	}
	// A refused request: counted, not upgraded.
	url := serve(waitDone)
	if _, resp, err := Dial[string](ctx, url, nil); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a request without Origin: %v", err)
	}
	s := metrics.Snapshot()
	if s.Accepted != 5 || s.Open != 0 || s.Rejected[http.StatusForbidden] != 1 || s.Closes[1007] != 2 || s.Closes[1011] != 2 ||
		s.EndedBy[EndedByPeer] != 3 || s.EndedBy[EndedByServer] != 2 {
		t.Errorf("metrics %+v", s)
	}
	if mine.Load() != 5 || perRequest.Load() != 5 {
		t.Errorf("the joined trace saw %d ends, the request's %d upgrades; want 5 each", mine.Load(), perRequest.Load())
	}
}
