package sockettest_test

import (
	"fmt"
	"io"
	"log"
	"testing"

	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
)

// exampleTB stands in for the *testing.T a real test passes: Examples get
// none. It runs the cleanups (closing clients, then checking the server)
// when done is called, and prints failures.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (t *exampleTB) Helper()                      {}
func (t *exampleTB) Cleanup(f func())             { t.cleanups = append(t.cleanups, f) }
func (t *exampleTB) Errorf(f string, args ...any) { fmt.Printf("FAIL: "+f+"\n", args...) }
func (t *exampleTB) Fatalf(f string, args ...any) { t.Errorf(f, args...); panic("fatal") }
func (t *exampleTB) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// A handler test in a few lines: serve the handler, dial it, talk, and
// read how the server saw the connection end. In a test, pass t.
func Example() {
	t := &exampleTB{}
	defer t.done()
	quiet := &wschan.Options{Logger: log.New(io.Discard, "", 0)}

	upper := wschan.Handler(func(c *wschan.Conn[string]) {
		for {
			select {
			case m := <-c.Receiver:
				if m == "bye" {
					c.Disconnect <- 4000
					continue
				}
				c.Sender <- "you said " + m
			case <-c.Done:
				return
			}
		}
	}, quiet)

	s := sockettest.NewServer(t, upper) // or NewPipeServer: no port at all
	c := s.Dial("/")
	c.SendText("hello")
	c.ExpectText("you said hello")
	c.SendText("bye")
	c.ExpectClose(4000, "")
	r := c.ServerRecord()
	fmt.Println("ended by", r.By, "with", r.Code)
	// Output: ended by handler with 4000
}

// JSON values both ways.
func ExampleClient_ExpectJSON() {
	t := &exampleTB{}
	defer t.done()
	type point struct{ X, Y int }
	double := wschan.Handler(func(c *wschan.Conn[*point]) {
		for {
			select {
			case p := <-c.Receiver:
				c.Sender <- &point{p.X * 2, p.Y * 2}
			case <-c.Done:
				return
			}
		}
	}, &wschan.Options{Logger: log.New(io.Discard, "", 0)})

	c := sockettest.NewPipeServer(t, double).Dial("/")
	c.SendJSON(point{1, 2})
	c.ExpectJSON(point{2, 4})
	fmt.Println("ok")
	// Output: ok
}
