package wschan_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/go-macaron/sockets/wschan"
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

// The net/http front: the same channels for any router, here the standard
// ServeMux with a Go 1.22 pattern. The value type decides the frames:
// *chatMessage is JSON.
func ExampleHandler() {
	type chatMessage struct {
		From string `json:"from"`
		Text string `json:"text"`
	}
	mux := http.NewServeMux()
	mux.Handle("GET /rooms/{room}", wschan.Handler(func(c *wschan.Conn[*chatMessage]) {
		room := c.Request.PathValue("room")
		for {
			select {
			case msg := <-c.Receiver:
				msg.Text = room + ": " + msg.Text
				c.Sender <- msg
			case <-c.Done:
				return
			}
		}
	}, &wschan.Options{SkipLogging: true}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := dial(ctx, srv, "/rooms/lobby")
	defer c.CloseNow()
	_ = wsjson.Write(ctx, c, chatMessage{From: "ann", Text: "hi"})
	var got chatMessage
	_ = wsjson.Read(ctx, c, &got)
	fmt.Printf("%s says %q\n", got.From, got.Text)
	c.Close(websocket.StatusNormalClosure, "")
	// Output: ann says "lobby: hi"
}

// After done, the connection tells how it ended.
func ExampleConnection_CloseRecord() {
	records := make(chan wschan.CloseRecord, 1)
	srv := httptest.NewServer(wschan.Handler(func(c *wschan.Conn[string]) {
		<-c.Done
		r, _ := c.Connection.CloseRecord()
		records <- r
	}, &wschan.Options{SkipLogging: true}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := dial(ctx, srv, "/")
	c.Close(websocket.StatusGoingAway, "tab closed")
	r := <-records
	fmt.Printf("ended by the %s: %d %q, cause %v\n", r.By, r.Code, r.Reason, r.Cause)
	// Output: ended by the peer: 1001 "tab closed", cause <nil>
}

// Subprotocols: the server's preference wins among those the client offers,
// and the handler sees the choice.
func ExampleOptions_subprotocols() {
	srv := httptest.NewServer(wschan.Handler(func(c *wschan.Conn[string]) {
		c.Sender <- "speaking " + c.Connection.Subprotocol()
		<-c.Done
	}, &wschan.Options{SkipLogging: true, Subprotocols: []string{"chat.v2", "chat.v1"}}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {srv.URL}}, Subprotocols: []string{"chat.v1", "chat.v2"},
	})
	if err != nil {
		panic(err)
	}
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))
	c.Close(websocket.StatusNormalClosure, "")
	// Output: speaking chat.v2
}

// A handler closes with a code and a reason, and reads its figures.
func ExampleConnection_CloseWithReason() {
	stats := make(chan wschan.Stats, 1)
	srv := httptest.NewServer(wschan.Handler(func(c *wschan.Conn[string]) {
		<-c.Receiver
		_ = c.Connection.CloseWithReason(4000, "quota reached")
		<-c.Done
		stats <- c.Connection.Stats()
	}, &wschan.Options{SkipLogging: true}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := dial(ctx, srv, "/")
	_ = c.Write(ctx, websocket.MessageText, []byte("one more"))
	_, _, err := c.Read(ctx)
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		fmt.Printf("closed %d %q\n", ce.Code, ce.Reason)
	}
	st := <-stats
	fmt.Println(st.MessagesIn, "message,", st.BytesIn, "bytes in")
	// Output:
	// closed 4000 "quota reached"
	// 1 message, 8 bytes in
}

// A Go client gets the same channels a handler gets: send, receive, close
// by closing its sender, and wait for done.
func ExampleDial() {
	srv := httptest.NewServer(wschan.Handler(func(c *wschan.Conn[string]) {
		for {
			select {
			case m := <-c.Receiver:
				c.Sender <- strings.ToUpper(m)
			case <-c.Done:
				return
			}
		}
	}, &wschan.Options{SkipLogging: true}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wschan.Dial[string](ctx, "ws"+strings.TrimPrefix(srv.URL, "http"),
		&wschan.DialOptions{Header: http.Header{"Origin": {srv.URL}}, Options: &wschan.Options{SkipLogging: true}})
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Sender <- "hello"
	fmt.Println(<-c.Receiver)
	close(c.Sender) // a normal close, after what was queued
	<-c.Done
	fmt.Println("error:", <-c.Error) // nil: closed without a cause
	// Output:
	// HELLO
	// error: <nil>
}
