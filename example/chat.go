package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/go-macaron/sockets/hub"
	"github.com/go-macaron/sockets/wschan"
	"github.com/go-macaron/sockets/wsprom"
)

//go:embed index.html
var indexPage []byte

//go:embed echo.html
var echoPage []byte

//go:embed favicon.svg
var favicon []byte

// Message is what the page and the server exchange, as JSON.
type Message struct {
	// Type is "join", "leave", "message", "members", "history" or
	// "servers".
	Type string `json:"typ"`
	From string `json:"from"`
	Text string `json:"text"`
	// At is when the server relayed a message, join or leave, in Unix
	// milliseconds: every member sees the same time.
	At int64 `json:"at,omitempty"`
	// Members lists the room's members, in a "members" message: what a
	// member is sent when it joins.
	Members []string `json:"members,omitempty"`
	// History is the room's last messages, in a "history" message, sent
	// after "members" to a member that joins (not while the other servers,
	// and so Redis, are unreachable).
	History []Message `json:"history,omitempty"`
	// Up says, in a "servers" message, whether the other servers of the
	// room are reachable (through Redis); a member is sent one when it
	// joins while they are not, and one at each change.
	Up bool `json:"up,omitempty"`
	// ID is the room's position after this message (hub.Position), on
	// messages, joins and leaves, and on a "history" message the position
	// it goes up to: the page reconnects from the last one it saw
	// (?from=), and gets what it missed.
	ID string `json:"id,omitempty"`
	// Missed is, in a "recovered" message, how many messages the room
	// said while the page was away (they follow it).
	Missed int `json:"missed,omitempty"`
	// Reload marks a "history" message sent to a page that asked to
	// resume but could not: it replaces what the page shows.
	Reload bool `json:"reload,omitempty"`
}

// SetPosition puts the hub's position for a broadcast in the message
// itself (hub.Positioned): the page holds it in its own terms.
func (m *Message) SetPosition(p hub.Position) { m.ID = p.String() }

// historySize is how many of a room's last messages a member sees when it
// joins (or when it cannot resume).
const historySize = 50

// historyKept is how many of each room's broadcasts (messages, joins and
// leaves) the hub keeps for pages that reconnect, without Redis; with
// Redis, each room's stream keeps them (redisbp.Options.StreamLength).
const historyKept = 500

// CloseNameTaken is the close code for a name already used in the room.
const CloseNameTaken = 4001

// Subprotocol is the chat's protocol name: the page offers it, and the
// server selects it (a client that offers none still connects).
const Subprotocol = "chat.v1"

// chat serves the rooms of one server; with a Redis backplane its rooms
// span every server sharing that Redis. Both fronts (Macaron and plain
// net/http) hand it the same channels.
type chat struct {
	hub   *hub.Hub[*Message]
	log   *log.Logger
	mu    sync.Mutex  // makes checking a name and joining with it one step
	apart atomic.Bool // the other servers are unreachable
}

// app is the example's HTTP handler, on either front. It counts the
// WebSockets it serves, so that a shutdown can wait for them.
type app struct {
	http.Handler
	chat  *chat
	conns sync.WaitGroup
}

// newApp returns the example's app on the front named front ("macaron" or
// "net/http"). Cancelling ctx closes every WebSocket with 1001.
func newApp(ctx context.Context, logger *log.Logger, rooms *hub.Hub[*Message], front string) (*app, error) {
	c := &chat{hub: rooms, log: logger}
	a := &app{chat: c}
	o := &wschan.Options{Context: ctx, Logger: logger}
	// Prometheus: the connections of o (and of chatOpts, a copy made after
	// this) and the hub, beside the Go runtime's and the process's figures.
	reg := prometheus.NewRegistry()
	reg.MustRegister(wsprom.New(wsprom.Config{Options: []*wschan.Options{o}, Hubs: map[string]wsprom.HubStats{"chat": rooms}}),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	chatOpts := *o
	chatOpts.Subprotocols = []string{Subprotocol}
	chatOpts.Compression = true // browsers offer permessage-deflate; chat text compresses well
	switch front {
	case "macaron":
		a.Handler = macaronApp(a, c, o, &chatOpts, logger)
	case "net/http":
		a.Handler = netHTTPApp(a, c, o, &chatOpts)
	default:
		return nil, fmt.Errorf("unknown front %q: use macaron or net/http", front)
	}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	pages := a.Handler
	a.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			metrics.ServeHTTP(w, r)
			return
		}
		pages.ServeHTTP(w, r)
	})
	return a, nil
}

// wait returns once every WebSocket the app served has ended, or fails
// when ctx is done first.
func (a *app) wait(ctx context.Context) error {
	ended := make(chan struct{})
	go func() {
		a.conns.Wait()
		close(ended)
	}()
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("connections still open: %w", ctx.Err())
	}
}

// echo sends back every message, as it came, until the connection ends.
func echo[T any](c *wschan.Conn[T]) {
	for {
		select {
		case msg := <-c.Receiver:
			select {
			case c.Sender <- msg:
			case <-c.Done:
				return
			}
		case <-c.Done:
			return
		}
	}
}

// serve is the chat's WebSocket handler: it joins the room, relays the
// member's messages to the room until the connection ends, then leaves. A
// name already used in the room on this server is refused with
// CloseNameTaken.
func (ch *chat) serve(room, name string, c *wschan.Conn[*Message]) {
	// The other servers' members (with a Redis backplane), asked before
	// taking the lock: it may wait for Redis.
	remote := ch.presence(c.Request.Context(), room)
	from := c.Request.URL.Query().Get("from") // the page's last position, when it resumes
	ch.mu.Lock()
	members := ch.hub.Members(room)
	if slices.Contains(members, name) {
		ch.mu.Unlock()
		c.Disconnect <- CloseNameTaken
		<-c.Done
		return
	}
	// The list, then what the page missed (or the room's last messages),
	// then the announcement, under the lock: a member joining at the same
	// moment is either in this one's list or heard of after it, never both
	// nor neither. (A new connection's sender is empty: these sends do not
	// wait. A replay goes through the member's backlog, never waiting.)
	c.Sender <- &Message{Type: "members", Members: merge(remote, members, name)}
	me, missed, err := ch.joinKept(room, name, from, c)
	if err != nil { // the server is shutting down, or the history moved on
		ch.mu.Unlock()
		c.Disconnect <- 1013 // try again later: the page does
		<-c.Done
		return
	}
	ch.hub.BroadcastOthers(room, &Message{Type: "join", From: name, At: now()}, me)
	ch.mu.Unlock()
	// After a replay the sender may be full, and a page that stalls keeps
	// it so: these wait outside the lock, and not past the connection's
	// end. The count may arrive amid a long replay; the page puts it at
	// the seam.
	if missed >= 0 {
		send(c, &Message{Type: "recovered", Missed: missed})
	}
	if ch.apart.Load() {
		send(c, &Message{Type: "servers", Up: false})
	}
	for {
		select {
		case msg := <-c.Receiver:
			msg.Type, msg.From, msg.At, msg.Members, msg.History = "message", name, now(), nil, nil
			ch.hub.Broadcast(room, msg)
		case <-c.Done:
			if err := <-c.Error; err != nil {
				ch.log.Printf("%s left room %s: %v", name, room, err)
			}
			me.Leave()
			ch.hub.Broadcast(room, &Message{Type: "leave", From: name, At: now()})
			return
		}
	}
}

// errHistoryMoved is joinKept's answer when the room's history moved past
// what it was about to replay: the page tries again.
var errHistoryMoved = errors.New("the room's history moved on while joining")

// joinKept joins the room from the hub's history (in this process, or
// with Redis the room's stream, shared by every server). A page that
// resumes from a position the history still covers gets what it missed,
// then the live messages, and missed says how many (-1: no resume); any other
// page gets the room's last messages (replacing what it shows, when it
// asked to resume) and joins from the last of them, so that nothing said
// meanwhile is missed or shown twice.
func (ch *chat) joinKept(room, name, from string, c *wschan.Conn[*Message]) (me *hub.Member[*Message], missed int, err error) {
	if from != "" {
		me, rec, err := ch.hub.JoinConnFrom(room, name, c, from)
		if err != nil {
			return nil, -1, err
		}
		if rec.Recovered {
			return me, rec.Replayed, nil
		}
		me.Leave() // nothing was replayed: join again from the room's last messages
	}
	recent, pos := ch.hub.Recent(room, historySize)
	var said []Message
	for _, m := range recent {
		if m.Type == "message" {
			said = append(said, *m)
		}
	}
	if len(said) > 0 || from != "" {
		c.Sender <- &Message{Type: "history", History: said, ID: pos.String(), Reload: from != ""}
	}
	if pos.Epoch == "" {
		me, err := ch.hub.JoinConn(room, name, c) // no history (or Redis away): live from now
		return me, -1, err
	}
	me, rec, err := ch.hub.JoinConnFrom(room, name, c, pos.String())
	if err != nil {
		return nil, -1, err
	}
	if !rec.Recovered {
		me.Leave()
		return nil, -1, errHistoryMoved
	}
	return me, -1, nil
}

// send puts m on c's sender, unless the connection ends first.
func send(c *wschan.Conn[*Message], m *Message) {
	select {
	case c.Sender <- m:
	case <-c.Done:
	}
}

// now is the time a message carries.
func now() int64 { return time.Now().UnixMilli() }

// setServersUp records whether the other servers are reachable and, on a
// change, tells every member of this server's rooms (this server's only:
// while Redis is away, a broadcast reaches nobody until it is back).
func (ch *chat) setServersUp(up bool) {
	if ch.apart.Swap(!up) == !up {
		return
	}
	for _, room := range ch.hub.Rooms() {
		ch.hub.BroadcastLocal(room, &Message{Type: "servers", Up: up, At: now()})
	}
}

// presence lists the names of room's members on the other servers, as the
// backplane's presence records have them (none without a backplane, or when
// Redis does not answer within a second); this server's are the hub's.
func (ch *chat) presence(ctx context.Context, room string) []string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ps, err := ch.hub.Presence(ctx, room)
	if err != nil {
		return nil
	}
	var names []string
	for _, p := range ps {
		if p.Server != ch.hub.Server() {
			names = append(names, p.Name)
		}
	}
	return names
}

// merge is the sorted union of the names, each once.
func merge(remote, local []string, name string) []string {
	names := append(append(append([]string(nil), remote...), local...), name)
	slices.Sort(names)
	return slices.Compact(names)
}
