package main

import (
	"context"
	_ "embed"
	"fmt"
	"log"
	"slices"
	"sync"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/hub"
	"gopkg.in/macaron.v1"
)

//go:embed index.html
var indexPage []byte

//go:embed echo.html
var echoPage []byte

//go:embed favicon.svg
var favicon []byte

// Message is what the page and the server exchange, as JSON.
type Message struct {
	// Type is "join", "leave", "message" or "members".
	Type string `json:"typ"`
	From string `json:"from"`
	Text string `json:"text"`
	// Members lists the room's members, in a "members" message: what a
	// member is sent when it joins.
	Members []string `json:"members,omitempty"`
}

// CloseNameTaken is the close code for a name already used in the room.
const CloseNameTaken = 4001

// chat serves the rooms of one server; with a Redis backplane its rooms
// span every server sharing that Redis.
type chat struct {
	hub *hub.Hub[*Message]
	log *log.Logger
	mu  sync.Mutex // makes checking a name and joining with it one step
}

// app is the example's Macaron app, which also counts the WebSockets it
// serves, so that a shutdown can wait for them.
type app struct {
	*macaron.Macaron
	conns sync.WaitGroup
}

// newApp returns the example's app. Cancelling ctx closes every WebSocket
// with 1001.
func newApp(ctx context.Context, logger *log.Logger, rooms *hub.Hub[*Message]) *app {
	c := &chat{hub: rooms, log: logger}
	a := &app{Macaron: macaron.New()}
	m := a.Macaron
	m.Map(logger)
	m.Use(macaron.Recovery())
	m.Get("/", page(indexPage, "text/html; charset=utf-8"))
	m.Get("/echo", page(echoPage, "text/html; charset=utf-8"))
	m.Get("/favicon.svg", page(favicon, "image/svg+xml"))
	echoOpts := &sockets.Options{Context: ctx, Logger: logger}
	m.Get("/echo/text", a.track, sockets.Messages(echoOpts), echo[string])
	m.Get("/echo/bytes", a.track, sockets.ByteSliceMessages(echoOpts), echo[[]byte])
	m.Get("/sockets/rooms/:room/:name", a.track, sockets.JSON(Message{}, &sockets.Options{Context: ctx, Logger: logger}), c.serve)
	return a
}

// track counts the connection while the rest of the chain serves it.
func (a *app) track(c *macaron.Context) {
	a.conns.Add(1)
	defer a.conns.Done()
	c.Next()
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

// page serves a static file.
func page(body []byte, contentType string) func(*macaron.Context) {
	return func(ctx *macaron.Context) {
		ctx.Resp.Header().Set("Content-Type", contentType)
		_, _ = ctx.Resp.Write(body)
	}
}

// echo sends back every message, as it came, until the connection ends.
func echo[T any](receiver <-chan T, sender chan<- T, done <-chan bool) {
	for {
		select {
		case msg := <-receiver:
			select {
			case sender <- msg:
			case <-done:
				return
			}
		case <-done:
			return
		}
	}
}

// serve is the WebSocket handler: it joins the room, relays the member's
// messages to the room until the connection ends, then leaves. A name
// already used in the room on this server is refused with CloseNameTaken.
func (c *chat) serve(ctx *macaron.Context, receiver <-chan *Message, sender chan<- *Message,
	done <-chan bool, disconnect chan<- int, errc <-chan error) {
	room, name := ctx.Params("room"), ctx.Params("name")
	c.mu.Lock()
	members := c.hub.Members(room)
	if slices.Contains(members, name) {
		c.mu.Unlock()
		disconnect <- CloseNameTaken
		<-done
		return
	}
	me := c.hub.Join(room, name, sender, disconnect, done)
	c.mu.Unlock()
	members = append(members, name)
	slices.Sort(members)
	sender <- &Message{Type: "members", Members: members}
	c.hub.BroadcastOthers(room, &Message{Type: "join", From: name}, me)
	for {
		select {
		case msg := <-receiver:
			msg.Type, msg.From, msg.Members = "message", name, nil
			c.hub.Broadcast(room, msg)
		case <-done:
			if err := <-errc; err != nil {
				c.log.Printf("%s left room %s: %v", name, room, err)
			}
			me.Leave()
			c.hub.Broadcast(room, &Message{Type: "leave", From: name})
			return
		}
	}
}
