package wsprom

import "github.com/prometheus/client_golang/prometheus"

// descs are the collector's metrics but the histogram, described once.
type descs struct {
	open, parked, handshakes, messages, bytes, closes, endedBy *prometheus.Desc

	rooms, members, backlog, deliveries, dropped, disconnected             *prometheus.Desc
	published, publishFailures, received, duplicates, lost, lag, malformed *prometheus.Desc
	bufferBytes, bufferLimit, backplaneUp, downSince, retries              *prometheus.Desc
}

func newDescs(ns string, constLabels prometheus.Labels) descs {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, constLabels)
	}
	hubDesc := func(name, help string) *prometheus.Desc { return desc("hub_"+name, help, "hub") }
	return descs{
		open:       desc("connections_open", "WebSocket connections open now."),
		parked:     desc("connections_parked", "Open connections whose read or write loop is parked (idle, without a goroutine).", "loop"),
		handshakes: desc("handshakes_total", "WebSocket handshakes by the status answered: 101 upgraded, 403 origin, 405 method, 400 or 426 handshake, 501 not hijackable.", "status"),
		messages:   desc("messages_total", "Messages read from (in) and written to (out) the peers.", "direction"),
		bytes:      desc("message_bytes_total", "Payload bytes of the messages read from (in) and written to (out) the peers.", "direction"),
		closes:     desc("closes_total", "Ended connections by the code of the close frame that ended them (0: dropped without one; 3xxx, 4xxx: those ranges; other).", "code"),
		endedBy:    desc("ended_total", "Ended connections by who ended them: peer, handler, server or network.", "by"),

		rooms:           hubDesc("rooms", "Rooms with a member on this server."),
		members:         hubDesc("members", "Room members on this server."),
		backlog:         hubDesc("backlog", "Values waiting in members' backlogs, beyond their senders."),
		deliveries:      hubDesc("deliveries_total", "Values handed to members."),
		dropped:         hubDesc("dropped_total", "Values dropped for members that stayed behind (DropOldest)."),
		disconnected:    hubDesc("disconnected_total", "Members disconnected for staying behind (Disconnect)."),
		published:       hubDesc("published_total", "Broadcasts the backplane carried to the other servers."),
		publishFailures: hubDesc("publish_failures_total", "Broadcasts the backplane could not carry."),
		received:        hubDesc("received_total", "Broadcasts received from the other servers."),
		duplicates:      hubDesc("duplicates_total", "Broadcasts received twice and dropped."),
		lost:            hubDesc("lost_total", "Broadcasts of other servers known missed (sequence gaps)."),
		malformed:       hubDesc("malformed_total", "Backplane messages this server could not read (another format or envelope version)."),
		lag:             hubDesc("backplane_lag_seconds", "Publish-to-arrival time of the last broadcast received from another server."),
		bufferBytes:     hubDesc("backplane_buffer_bytes", "Bytes of broadcasts waiting for the backplane."),
		bufferLimit:     hubDesc("backplane_buffer_limit_bytes", "The bound on the bytes waiting for the backplane (BackplaneBuffer)."),
		backplaneUp:     hubDesc("backplane_up", "1 while the backplane's connection works, 0 while it is failing."),
		downSince:       hubDesc("backplane_down_since_timestamp_seconds", "When the backplane last went down, as a Unix time; 0 while it is up."),
		retries:         hubDesc("backplane_retries_total", "Tries to reconnect the backplane."),
	}
}

// each calls f with every description.
func (d *descs) each(f func(*prometheus.Desc)) {
	for _, x := range []*prometheus.Desc{d.open, d.parked, d.handshakes, d.messages, d.bytes, d.closes, d.endedBy,
		d.rooms, d.members, d.backlog, d.deliveries, d.dropped, d.disconnected,
		d.published, d.publishFailures, d.received, d.duplicates, d.lost, d.lag, d.malformed,
		d.bufferBytes, d.bufferLimit, d.backplaneUp, d.downSince, d.retries} {
		f(x)
	}
}
