package sockets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// syncBuffer is a buffer several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// requestKey carries a request id in the request's context.
type requestKey struct{}

// requestIDHandler adds the request id found in a record's context as an
// attribute, as tracing and request-id slog handlers do.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(requestKey{}).(string); ok {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// TestSlog: with Options.Slog every line is a structured record with the
// level mapped, a constant message and attributes, logged under the
// request's context; the end of a connection carries the close code,
// reason, cause and figures. Without it the original's text lines are
// unchanged (compat 11.4).
func TestSlog(t *testing.T) {
	bothFronts(t, stringsMW, func(t *testing.T, f front[string]) {
		out := &syncBuffer{}
		o := quietOptions()
		o.Slog = slog.New(requestIDHandler{slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})})
		ws := f.serve(o, statsHandler)
		s := sockettest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey{}, "req-42")))
		}))
		c := s.Dial("/ws")
		c.SendText("hello")
		c.ExpectText("hello")
		c.SendBinary([]byte("close over and out"))
		c.ExpectClose(4001, "over and out")
		c.ServerRecord()
		if _, err := s.DialHeader("/ws", nil); err == nil { // no Origin: 403
			t.Fatal("dialed without an Origin")
		}
		var records []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("not a JSON record: %q", line)
			}
			records = append(records, r)
		}
		find := func(msg string) map[string]any {
			for _, r := range records {
				if r["msg"] == msg {
					if r["request_id"] != "req-42" {
						t.Errorf("record %q was not logged under the request's context: %v", msg, r)
					}
					return r
				}
			}
			t.Fatalf("no record %q in %v", msg, records)
			return nil
		}
		if r := find("Connection established"); r["level"] != "INFO" || r["remote"] == "" {
			t.Errorf("established: %v", r)
		}
		end := find("Connection closed")
		if end["level"] != "INFO" || end["by"] != "handler" || end["code"] != 4001.0 || end["reason"] != "over and out" ||
			end["clean"] != true || end["bytes_in"].(float64) < 5 || end["messages_out"] != 1.0 ||
			!strings.Contains(end["detail"].(string), "4001") {
			t.Errorf("end: %v", end)
		}
		if r := find("Origin header missing"); r["level"] != "WARN" {
			t.Errorf("rejection: %v", r)
		}
		if r := find("Request allowed"); r["origin"] == nil || r["host"] == nil {
			t.Errorf("allowed: %v", r)
		}
	})
}

// TestLoggerUnchanged: with only Logger set, the original's line format.
func TestLoggerUnchanged(t *testing.T) {
	out := &syncBuffer{}
	o := quietOptions()
	o.Logger = log.New(out, "[sockets] ", 0)
	s := sockettest.NewServer(t, wschan.Handler(statsHandler, o))
	c := s.Dial("/")
	c.Close(1000, "")
	c.ServerRecord()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "[sockets] [Info] [127.0.0.1:") ||
		!strings.HasSuffix(lines[0], "] Connection established") || !strings.HasSuffix(lines[2], "] Connection closed") {
		t.Fatalf("lines %q", lines)
	}
}
