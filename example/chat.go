package main

import (
	"context"
	_ "embed"
	"log"
	"sync"

	"github.com/go-macaron/sockets"
	"gopkg.in/macaron.v1"
)

//go:embed index.html
var indexPage []byte

// Message is what the page and the server exchange, as JSON.
type Message struct {
	// Type is "join", "leave", "message" or "status".
	Type string `json:"typ"`
	From string `json:"from"`
	Text string `json:"text"`
}

// room is one chat room: its members' senders, by member.
type room struct {
	mu      sync.Mutex
	members map[*member]struct{}
}

// member is one connection in a room.
type member struct {
	name   string
	sender chan<- *Message
	// kick takes a close code; a member whose sender is full is closed
	// with 1008 rather than stalling the room.
	kick chan<- int
}

// chat holds the rooms.
type chat struct {
	mu    sync.Mutex
	rooms map[string]*room
	log   *log.Logger
}

// newApp returns the example's Macaron app. Cancelling ctx closes every
// WebSocket with 1001.
func newApp(ctx context.Context, logger *log.Logger) *macaron.Macaron {
	c := &chat{rooms: make(map[string]*room), log: logger}
	m := macaron.New()
	m.Map(logger)
	m.Use(macaron.Recovery())
	m.Get("/", func(ctx *macaron.Context) {
		ctx.Resp.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = ctx.Resp.Write(indexPage)
	})
	m.Get("/sockets/rooms/:room/:name", sockets.JSON(Message{}, &sockets.Options{Context: ctx, Logger: logger}), c.serve)
	return m
}

// serve is the WebSocket handler: it joins the room, relays the member's
// messages to the room until the connection ends, then leaves.
func (c *chat) serve(ctx *macaron.Context, receiver <-chan *Message, sender chan<- *Message,
	done <-chan bool, disconnect chan<- int, errc <-chan error) {
	roomName := ctx.Params("room")
	r := c.room(roomName)
	me := &member{name: ctx.Params("name"), sender: sender, kick: disconnect}
	r.join(me)
	r.broadcast(&Message{Type: "join", From: me.name})
	for {
		select {
		case msg := <-receiver:
			msg.Type, msg.From = "message", me.name
			r.broadcast(msg)
		case <-done:
			select {
			case err := <-errc:
				if err != nil {
					c.log.Printf("%s left room %s: %v", me.name, roomName, err)
				}
			default:
			}
			r.leave(me)
			r.broadcast(&Message{Type: "leave", From: me.name})
			return
		}
	}
}

// room returns the named room, creating it.
func (c *chat) room(name string) *room {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rooms[name]
	if !ok {
		r = &room{members: make(map[*member]struct{})}
		c.rooms[name] = r
	}
	return r
}

func (r *room) join(m *member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members[m] = struct{}{}
}

func (r *room) leave(m *member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.members, m)
}

// broadcast sends msg to every member, its author included. It never
// blocks: a member whose sender is full is disconnected with 1008 (policy
// violation).
func (r *room) broadcast(msg *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for m := range r.members {
		select {
		case m.sender <- msg:
		default:
			select {
			case m.kick <- 1008:
			default:
			}
		}
	}
}
