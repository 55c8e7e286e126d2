package wsprom_test

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/go-macaron/sockets/hub"
	"github.com/go-macaron/sockets/wschan"
	"github.com/go-macaron/sockets/wsprom"
)

// One line registers the connections of o and a hub's rooms; the handlers
// are built from o after it.
func Example() {
	rooms := hub.New[string](hub.Options{})
	defer rooms.Close()
	o := &wschan.Options{}

	reg := prometheus.NewRegistry() // or prometheus.MustRegister, for the default one
	reg.MustRegister(wsprom.New(wsprom.Config{Options: []*wschan.Options{o}, Hubs: map[string]wsprom.HubStats{"chat": rooms}}))

	mux := http.NewServeMux()
	mux.Handle("/ws", wschan.Handler(func(c *wschan.Conn[string]) { <-c.Done }, o))
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	families, _ := reg.Gather()
	for _, f := range families[:3] {
		fmt.Println(f.GetName())
	}
	// Output:
	// sockets_connection_duration_seconds
	// sockets_connections_open
	// sockets_connections_parked
}
