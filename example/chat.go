package main

import (
	"context"
	_ "embed"
	"log"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/hub"
	"gopkg.in/macaron.v1"
)

//go:embed index.html
var indexPage []byte

//go:embed echo.html
var echoPage []byte

// Message is what the page and the server exchange, as JSON.
type Message struct {
	// Type is "join", "leave", "message" or "status".
	Type string `json:"typ"`
	From string `json:"from"`
	Text string `json:"text"`
}

// chat serves the rooms of one server; with a Redis backplane its rooms
// span every server sharing that Redis.
type chat struct {
	hub *hub.Hub[*Message]
	log *log.Logger
}

// newApp returns the example's Macaron app. Cancelling ctx closes every
// WebSocket with 1001.
func newApp(ctx context.Context, logger *log.Logger, rooms *hub.Hub[*Message]) *macaron.Macaron {
	c := &chat{hub: rooms, log: logger}
	m := macaron.New()
	m.Map(logger)
	m.Use(macaron.Recovery())
	m.Get("/", page(indexPage))
	m.Get("/echo", page(echoPage))
	echoOpts := &sockets.Options{Context: ctx, Logger: logger}
	m.Get("/echo/text", sockets.Messages(echoOpts), echo[string])
	m.Get("/echo/bytes", sockets.ByteSliceMessages(echoOpts), echo[[]byte])
	m.Get("/sockets/rooms/:room/:name", sockets.JSON(Message{}, &sockets.Options{Context: ctx, Logger: logger}), c.serve)
	return m
}

// page serves a static HTML page.
func page(body []byte) func(*macaron.Context) {
	return func(ctx *macaron.Context) {
		ctx.Resp.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = ctx.Resp.Write(body)
	}
}

// echo sends back every message, as it came, until the connection ends.
func echo[T any](receiver <-chan T, sender chan<- T, done <-chan bool) {
	for {
		select {
		case msg := <-receiver:
			sender <- msg
		case <-done:
			return
		}
	}
}

// serve is the WebSocket handler: it joins the room, relays the member's
// messages to the room until the connection ends, then leaves.
func (c *chat) serve(ctx *macaron.Context, receiver <-chan *Message, sender chan<- *Message,
	done <-chan bool, disconnect chan<- int, errc <-chan error) {
	room, name := ctx.Params("room"), ctx.Params("name")
	me := c.hub.Join(room, name, sender, disconnect, done)
	c.hub.Broadcast(room, &Message{Type: "join", From: name})
	for {
		select {
		case msg := <-receiver:
			msg.Type, msg.From = "message", name
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
