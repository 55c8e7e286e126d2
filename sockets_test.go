package sockets

import (
	"testing"

	gorilla "github.com/gorilla/websocket"
)

// echoStrings is a handler that echoes every string until done, then reports
// how the connection ended.
func echoStrings(ends chan<- end) func(<-chan string, chan<- string, <-chan error, chan<- int, <-chan bool) {
	return func(in <-chan string, out chan<- string, errc <-chan error, _ chan<- int, done <-chan bool) {
		for {
			select {
			case m := <-in:
				out <- m
			case first := <-done:
				ends <- endAfter(first, done, errc)
				return
			}
		}
	}
}

func TestEchoMessagesAndPeerClose(t *testing.T) {
	checkLeaks(t)
	logs := &logBuffer{}
	ends := make(chan end, 1)
	ts := serve(t, Messages(testOptions(logs)), echoStrings(ends))
	c := ts.dial()
	if err := c.WriteMessage(gorilla.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	typ, p := readMessage(t, c)
	if typ != gorilla.TextMessage || string(p) != "hello" {
		t.Fatalf("got %d %q, want a text frame \"hello\"", typ, p)
	}
	if err := c.WriteMessage(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, "bye")); err != nil {
		t.Fatal(err)
	}
	code, _ := readClose(t, c)
	if code != 1000 {
		t.Fatalf("close code %d, want the peer's 1000 echoed", code)
	}
	e := recv(t, ends, "the end")
	if !e.clean() || e.err != nil {
		t.Fatalf("end %+v, want done once, both channels closed, no error", e)
	}
	ts.waitFinished()
	t.Log(logs.String())
}
