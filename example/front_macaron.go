package main

import (
	"log"

	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/wschan"
	"gopkg.in/macaron.v1"
)

// macaronApp is the chat on Macaron, as the original's README wrote it: the
// middleware injects the channels into the next handler.
func macaronApp(a *app, ch *chat, o, chatOpts *sockets.Options, logger *log.Logger) *macaron.Macaron {
	m := macaron.New()
	m.Map(logger)
	m.Use(macaron.Recovery())
	m.Get("/", page(indexPage, "text/html; charset=utf-8"))
	m.Get("/echo", page(echoPage, "text/html; charset=utf-8"))
	m.Get("/favicon.svg", page(favicon, "image/svg+xml"))
	track := func(c *macaron.Context) {
		a.conns.Add(1)
		defer a.conns.Done()
		c.Next()
	}
	m.Get("/echo/text", track, sockets.Messages(o), func(in <-chan string, out chan<- string, done <-chan bool) {
		echo(&wschan.Conn[string]{Receiver: in, Sender: out, Done: done})
	})
	m.Get("/echo/bytes", track, sockets.ByteSliceMessages(o), func(in <-chan []byte, out chan<- []byte, done <-chan bool) {
		echo(&wschan.Conn[[]byte]{Receiver: in, Sender: out, Done: done})
	})
	m.Get("/sockets/rooms/:room/:name", track, sockets.JSON(Message{}, chatOpts),
		func(ctx *macaron.Context, conn *sockets.Connection, receiver <-chan *Message, sender chan<- *Message,
			done <-chan bool, disconnect chan<- int, errc <-chan error) {
			ch.serve(ctx.Params("room"), ctx.Params("name"), &wschan.Conn[*Message]{
				Receiver: receiver, Sender: sender, Error: errc, Disconnect: disconnect, Done: done,
				Connection: conn, Request: ctx.Req.Request})
		})
	return m
}

// page serves a static file.
func page(body []byte, contentType string) func(*macaron.Context) {
	return func(ctx *macaron.Context) {
		ctx.Resp.Header().Set("Content-Type", contentType)
		_, _ = ctx.Resp.Write(body)
	}
}
