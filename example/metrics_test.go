package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/go-macaron/sockets/sockettest"
)

// TestMetricsEndpoint: while clients connect, talk and end every way
// (close 1000, 1001 and 4001, a TCP drop, an oversized message) and others
// are refused (a foreign Origin, no upgrade), /metrics, parsed with
// Prometheus' own text parser, says exactly what they did, on both fronts;
// the Go runtime's and the process's figures are beside them.
func TestMetricsEndpoint(t *testing.T) {
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) {
			s := kitServer(t, front)
			ann := s.Dial("/sockets/rooms/A/ann")
			members := ann.Next() // its members message: one message out
			const clients = 40
			var (
				mu                sync.Mutex
				msgsIn, bytesIn   int
				msgsOut, bytesOut = 1, len(members.Data)
			)
			ends := []string{"1000", "1001", "4xxx", "0"}
			var wg sync.WaitGroup
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := s.Dial("/echo/text")
					n := i%5 + 1
					for j := range n {
						msg := fmt.Sprintf("message %d of client %d", j, i)
						c.SendText(msg)
						c.ExpectText(msg)
						mu.Lock()
						msgsIn, bytesIn, msgsOut, bytesOut = msgsIn+1, bytesIn+len(msg), msgsOut+1, bytesOut+len(msg)
						mu.Unlock()
					}
					switch ends[i%4] {
					case "1000":
						c.Close(1000, "")
					case "1001":
						c.Close(1001, "")
					case "4xxx":
						c.Close(4001, "bye")
					default:
						c.Drop()
					}
					c.ServerRecord() // the server has counted it
				}()
			}
			big := s.Dial("/echo/text")
			big.SendText(strings.Repeat("x", 70000)) // over the 65536 default
			big.ExpectClose(1009, "read limited at 65537 bytes")
			big.ServerRecord()
			for range 3 {
				if _, err := s.DialHeader("/echo/text", http.Header{"Origin": {"http://elsewhere.example"}}); err == nil {
					t.Fatal("a foreign origin was upgraded")
				}
			}
			for range 2 {
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/echo/text", nil)
				req.Header.Set("Origin", s.URL) // allowed, but no upgrade: 400
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("a plain GET got %d", resp.StatusCode)
				}
			}
			wg.Wait()

			got := scrape(t, s)
			want := map[string]float64{
				`sockets_connections_open`:                     1,
				`sockets_handshakes_total{status="101"}`:       clients + 2,
				`sockets_handshakes_total{status="403"}`:       3,
				`sockets_handshakes_total{status="400"}`:       2,
				`sockets_messages_total{direction="in"}`:       float64(msgsIn),
				`sockets_messages_total{direction="out"}`:      float64(msgsOut),
				`sockets_message_bytes_total{direction="in"}`:  float64(bytesIn),
				`sockets_message_bytes_total{direction="out"}`: float64(bytesOut),
				`sockets_closes_total{code="1000"}`:            clients / 4,
				`sockets_closes_total{code="1001"}`:            clients / 4,
				`sockets_closes_total{code="4xxx"}`:            clients / 4,
				`sockets_closes_total{code="0"}`:               clients / 4,
				`sockets_closes_total{code="1009"}`:            1,
				`sockets_ended_total{by="peer"}`:               3*clients/4 + 1,
				`sockets_ended_total{by="network"}`:            clients / 4,
				`sockets_connection_duration_seconds_count`:    clients + 1,
				`sockets_hub_rooms{hub="chat"}`:                1,
				`sockets_hub_members{hub="chat"}`:              1,
				`sockets_hub_backlog{hub="chat"}`:              0,
				`sockets_hub_dropped_total{hub="chat"}`:        0,
				`sockets_connections_parked{loop="write"}`:     -1, // present; its value depends on timing
				`go_goroutines`:                                -1,
				`process_open_fds`:                             -1,
			}
			for name, v := range want {
				g, ok := got[name]
				switch {
				case !ok:
					t.Errorf("/metrics has no %s", name)
				case v >= 0 && g != v:
					t.Errorf("%s = %v, want %v", name, g, v)
				}
			}
		})
	}
}

// scrape reads the server's /metrics with Prometheus' text parser and
// returns each sample by its name and labels, as the exposition writes
// them (a histogram's count as name_count).
func scrape(t *testing.T, s *sockettest.Server) map[string]float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			key := name
			if labels := m.GetLabel(); len(labels) > 0 {
				var parts []string
				for _, l := range labels {
					parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				key += "{" + strings.Join(parts, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			default:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}
