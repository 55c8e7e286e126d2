package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/go-macaron/sockets/hub"
	"github.com/go-macaron/sockets/wschan"
)

// metricsHandler serves m in the Prometheus text exposition format, written
// by hand: a scraper needs no client library on either side.
func metricsHandler(m *wschan.Metrics, rooms *hub.Hub[*Message]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s := m.Snapshot()
		var b strings.Builder
		metric := func(name, kind, help string, value any) { // an integer or a float64
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, kind, name, value)
		}
		metric("sockets_connections_open", "gauge", "WebSocket connections open now.", s.Open)
		metric("sockets_connections_accepted_total", "counter", "WebSocket connections upgraded.", s.Accepted)
		metric("sockets_messages_received_total", "counter", "Messages read from clients.", s.MessagesIn)
		metric("sockets_received_bytes_total", "counter", "Payload bytes read from clients.", s.BytesIn)
		metric("sockets_messages_sent_total", "counter", "Messages written to clients.", s.MessagesOut)
		metric("sockets_sent_bytes_total", "counter", "Payload bytes written to clients.", s.BytesOut)
		b.WriteString("# HELP sockets_closes_total Ended connections by close code (0: dropped without a close frame).\n")
		b.WriteString("# TYPE sockets_closes_total counter\n")
		codes := make([]int, 0, len(s.Closes))
		for code := range s.Closes {
			codes = append(codes, code)
		}
		slices.Sort(codes)
		for _, code := range codes {
			fmt.Fprintf(&b, "sockets_closes_total{code=\"%d\"} %d\n", code, s.Closes[code])
		}
		// The hub's figures, through the same hook: a snapshot on demand.
		h := rooms.Stats()
		metric("hub_rooms", "gauge", "Rooms with a member on this server.", h.Rooms)
		metric("hub_members", "gauge", "Room members on this server.", h.Members)
		metric("hub_deliveries_total", "counter", "Values handed to members.", h.Deliveries)
		metric("hub_dropped_total", "counter", "Values dropped for members that stayed behind (DropOldest).", h.Dropped)
		metric("hub_disconnected_total", "counter", "Members disconnected for staying behind (Disconnect).", h.Disconnected)
		metric("hub_published_total", "counter", "Broadcasts the backplane carried to the other servers.", h.Published)
		metric("hub_publish_failures_total", "counter", "Broadcasts the backplane could not carry.", h.PublishFailures)
		metric("hub_received_total", "counter", "Broadcasts received from the other servers.", h.Received)
		metric("hub_duplicates_total", "counter", "Broadcasts received twice and dropped.", h.Duplicates)
		metric("hub_lost_total", "counter", "Broadcasts of other servers known missed (sequence gaps).", h.Lost)
		metric("hub_backplane_lag_seconds", "gauge", "Publish-to-arrival time of the last broadcast received.", h.BackplaneLag.Seconds())
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte(b.String()))
	})
}
