// Package wsprom exports the figures of github.com/go-macaron/sockets to
// Prometheus: a prometheus.Collector for the connections of every Options
// it instruments and for any hub, in a module of its own so that the
// library's module takes no dependency on client_golang.
//
//	o := &sockets.Options{}
//	prometheus.MustRegister(wsprom.New(wsprom.Config{Options: []*wschan.Options{o}}))
//	m.Get("/ws", sockets.Messages(o), handler) // after New: options are copied here
//
// Every figure is read from the library at scrape time (wschan.Metrics,
// hub.Stats), except the connection durations, which a histogram observes
// as each connection ends: nothing is counted twice, and the message path
// is not touched.
package wsprom

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-macaron/sockets/hub"
	"github.com/go-macaron/sockets/wschan"
)

// Config says what a Collector exports. Zero fields take their defaults.
type Config struct {
	// Namespace starts every metric's name. Default: "sockets".
	Namespace string
	// Options are instrumented by New: each one's Trace is joined with
	// the collector's (wschan.JoinTraces), so New must run before the
	// handlers are built from them (they copy their options).
	Options []*wschan.Options
	// Hubs are exported under the label hub, by name: one name per hub
	// of a program (its type of values, or its purpose), never a room.
	Hubs map[string]HubStats
	// DurationBuckets are the upper bounds of the connection duration
	// histogram, in seconds. Default: 1 s to 1 day.
	DurationBuckets []float64
	// ConstLabels are added to every metric (a server's name, say).
	ConstLabels prometheus.Labels
}

// HubStats is what a Collector reads of a hub: any *hub.Hub[T].
type HubStats interface {
	Stats() hub.Stats
}

// Collector is a prometheus.Collector of WebSocket connections and hubs.
type Collector struct {
	metrics  wschan.Metrics
	duration prometheus.Histogram
	hubs     map[string]HubStats

	descs descs
}

// New returns a collector and instruments cfg.Options with it. Register it
// with prometheus.MustRegister (or a registry of your own).
func New(cfg Config) *Collector {
	ns := cfg.Namespace
	if ns == "" {
		ns = "sockets"
	}
	buckets := cfg.DurationBuckets
	if len(buckets) == 0 {
		buckets = []float64{1, 5, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600}
	}
	c := &Collector{hubs: cfg.Hubs, descs: newDescs(ns, cfg.ConstLabels)}
	c.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Name: "connection_duration_seconds", ConstLabels: cfg.ConstLabels,
		Help: "How long WebSocket connections lasted, from the upgrade to the end.", Buckets: buckets,
	})
	trace := c.metrics.Trace()
	ended := trace.Ended
	trace.Ended = func(conn *wschan.Connection) {
		ended(conn)
		c.duration.Observe(time.Since(conn.Stats().ConnectedAt).Seconds())
	}
	for _, o := range cfg.Options {
		o.Trace = wschan.JoinTraces(o.Trace, trace)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.descs.each(func(d *prometheus.Desc) { ch <- d })
	c.duration.Describe(ch)
}

// Collect implements prometheus.Collector: one Metrics snapshot and one
// Stats per hub.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	d := &c.descs
	s := c.metrics.Snapshot()
	gauge := func(desc *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(desc *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(d.open, s.Open)
	gauge(d.parked, s.ReadParked, "read")
	gauge(d.parked, s.WriteParked, "write")
	counter(d.handshakes, s.Accepted, "101")
	for status, n := range s.Rejected {
		counter(d.handshakes, n, strconv.Itoa(status))
	}
	counter(d.messages, s.MessagesIn, "in")
	counter(d.messages, s.MessagesOut, "out")
	counter(d.bytes, s.BytesIn, "in")
	counter(d.bytes, s.BytesOut, "out")
	closes := map[string]int64{}
	for code, n := range s.Closes {
		closes[CodeLabel(code)] += n
	}
	for code, n := range closes {
		counter(d.closes, n, code)
	}
	for by, n := range s.EndedBy {
		counter(d.endedBy, n, by.String())
	}
	c.duration.Collect(ch)
	for name, h := range c.hubs {
		st := h.Stats()
		gauge(d.rooms, st.Rooms, name)
		gauge(d.members, st.Members, name)
		gauge(d.backlog, st.Backlog, name)
		counter(d.deliveries, st.Deliveries, name)
		counter(d.dropped, st.Dropped, name)
		counter(d.disconnected, st.Disconnected, name)
		counter(d.published, st.Published, name)
		counter(d.publishFailures, st.PublishFailures, name)
		counter(d.received, st.Received, name)
		counter(d.duplicates, st.Duplicates, name)
		counter(d.lost, st.Lost, name)
		counter(d.malformed, st.Malformed, name)
		ch <- prometheus.MustNewConstMetric(d.lag, prometheus.GaugeValue, st.BackplaneLag.Seconds(), name)
		gauge(d.bufferBytes, st.BackplaneBuffered, name)
		gauge(d.bufferLimit, st.BackplaneBuffer, name)
		if b := st.Backplane; b != nil {
			up, since := 0.0, 0.0
			if b.Up {
				up = 1
			} else {
				since = float64(b.DownSince.UnixNano()) / 1e9
			}
			ch <- prometheus.MustNewConstMetric(d.backplaneUp, prometheus.GaugeValue, up, name)
			ch <- prometheus.MustNewConstMetric(d.downSince, prometheus.GaugeValue, since, name)
			counter(d.retries, b.Retries, name)
		}
	}
}

// CodeLabel is the label a close code is exported under: one of a fixed
// set, whatever the peer sent. 0 is a connection dropped without a close
// frame; the codes RFC 6455 and the IANA registry define (1000-1015) are
// their own label; the ranges libraries (3000-3999) and applications
// (4000-4999) may use are "3xxx" and "4xxx"; anything else is "other".
func CodeLabel(code int) string {
	switch {
	case code == 0 || code >= 1000 && code <= 1015:
		return strconv.Itoa(code)
	case code >= 3000 && code <= 3999:
		return "3xxx"
	case code >= 4000 && code <= 4999:
		return "4xxx"
	default:
		return "other"
	}
}
