package sockets_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"gopkg.in/macaron.v1"

	"github.com/go-macaron/sockets"
)

// dial connects a coder/websocket client to srv's path with the server's own
// origin, which the default AllowedOrigin requires.
func dial(ctx context.Context, srv *httptest.Server, path string) *websocket.Conn {
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+path, &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {srv.URL}},
	})
	if err != nil {
		panic(err)
	}
	return c
}

// An echo server: the handler receives the channels Messages injects and
// stays until done fires.
func ExampleMessages() {
	m := macaron.New()
	m.Get("/echo", sockets.Messages(&sockets.Options{SkipLogging: true}),
		func(receiver <-chan string, sender chan<- string, done <-chan bool) {
			for {
				select {
				case msg := <-receiver:
					sender <- strings.ToUpper(msg)
				case <-done:
					return
				}
			}
		})
	srv := httptest.NewServer(m)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := dial(ctx, srv, "/echo")
	_ = c.Write(ctx, websocket.MessageText, []byte("hello"))
	_, reply, _ := c.Read(ctx)
	fmt.Println(string(reply))
	_ = c.Close(websocket.StatusNormalClosure, "")
	// Output: HELLO
}

// Chat is the JSON type of the JSON example.
type Chat struct {
	From string `json:"from"`
	Text string `json:"text"`
}

// JSON binds a struct type: the handler gets channels of *Chat, and a
// disconnect channel to end the connection with a close code.
func ExampleJSON() {
	m := macaron.New()
	m.Get("/chat", sockets.JSON(Chat{}, &sockets.Options{SkipLogging: true}),
		func(receiver <-chan *Chat, sender chan<- *Chat, disconnect chan<- int, done <-chan bool) {
			msg := <-receiver
			sender <- &Chat{From: "server", Text: "hi " + msg.From}
			disconnect <- int(websocket.StatusNormalClosure) // after the reply is written
			<-done
		})
	srv := httptest.NewServer(m)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := dial(ctx, srv, "/chat")
	_ = wsjson.Write(ctx, c, Chat{From: "ann", Text: "hello"})
	var reply Chat
	_ = wsjson.Read(ctx, c, &reply)
	fmt.Printf("%s: %s\n", reply.From, reply.Text)
	_, _, err := c.Read(ctx)
	fmt.Println(websocket.CloseStatus(err))
	// Output:
	// server: hi ann
	// StatusNormalClosure
}

// ByteSliceMessages carries binary frames; the error channel tells why a
// connection ended abnormally, before done fires.
func ExampleByteSliceMessages() {
	causes := make(chan error, 1)
	m := macaron.New()
	m.Get("/bytes", sockets.ByteSliceMessages(&sockets.Options{SkipLogging: true, MaxMessageSize: 4}),
		func(receiver <-chan []byte, errc <-chan error, done <-chan bool) {
			<-done
			causes <- <-errc
		})
	srv := httptest.NewServer(m)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := dial(ctx, srv, "/bytes")
	_ = c.Write(ctx, websocket.MessageBinary, []byte("too long"))
	_, _, err := c.Read(ctx)
	fmt.Println(websocket.CloseStatus(err))
	fmt.Println(<-causes != nil)
	// Output:
	// StatusMessageTooBig
	// true
}
