package sockets

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
)

// silentCloser makes a gorilla client record the server's close frame
// instead of answering it, so the test controls the close handshake.
func silentCloser(c *gorilla.Conn) {
	c.SetCloseHandler(func(int, string) error { return nil })
}

func rowDisconnectCodes(t *testing.T) {
	for _, code := range []int{1000, 1001, 4000} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			p := newProbe[string]()
			ts := serve(t, Messages(testOptions(&logBuffer{})), p.handler)
			c := ts.dial()
			silentCloser(c)
			p.disconnect <- code
			got, reason := readClose(t, c)
			if got != code || reason != "" {
				t.Fatalf("close %d %q, want %d with an empty reason", got, reason, code)
			}
			// The server waits for the client's close frame: TCP is
			// still open until the client answers.
			raw := c.UnderlyingConn()
			_ = raw.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			var ne net.Error
			if _, err := raw.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("the server did not wait for the close reply: %v", err)
			}
			if err := c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(code, ""), time.Now().Add(wait)); err != nil {
				t.Fatal(err)
			}
			_ = raw.SetReadDeadline(time.Now().Add(wait))
			if _, err := raw.Read(make([]byte, 1)); err == nil {
				t.Fatal("the server sent more after its close frame")
			}
			if e := p.end(t); !e.clean() || e.err != nil {
				t.Fatalf("end %+v, want done once and no error", e)
			}
		})
	}
}

func rowDisconnectInvalidCodes(t *testing.T) {
	cases := []struct {
		code, want int
		warning    bool
	}{{1005, 1005, false}, {1006, 1006, false}, {0, 1011, true}, {5000, 1011, true}, {70000, 1011, true}}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			logs := &logBuffer{}
			p := newProbe[string]()
			ts := serve(t, Messages(testOptions(logs)), p.handler)
			conn := ts.dial()
			p.disconnect <- c.code
			if got, _ := readClose(t, conn); got != c.want {
				t.Fatalf("the client saw %d, want %d", got, c.want)
			}
			if e := p.end(t); !e.clean() || e.err != nil {
				t.Fatalf("end %+v", e)
			}
			ts.waitFinished()
			warned := strings.Contains(logs.String(), "[Warning] [127.0.0.1:") &&
				strings.Contains(logs.String(), fmt.Sprintf("Close code %d cannot be sent", c.code))
			if warned != c.warning {
				t.Fatalf("warning logged: %v, want %v:\n%s", warned, c.warning, logs)
			}
		})
	}
}

func rowDisconnectChannels(t *testing.T) {
	p := newProbe[string]()
	ts := serve(t, Messages(testOptions(&logBuffer{})), p.handler)
	c := ts.dial()
	p.disconnect <- 1000
	readClose(t, c)
	if e := p.end(t); !e.firstDone || !e.doneClosed || !e.errClosed || e.err != nil {
		t.Fatalf("end %+v, want done true once then closed, error closed without a value", e)
	}
}

func rowSendsAfterDone(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.SendChannelBuffer = 3
	type counts struct{ sends, disconnects int }
	got := make(chan counts, 1)
	ts := serve(t, Messages(o), func(out chan<- string, disc chan<- int, done <-chan bool) {
		<-done
		var n counts
		for range 10 {
			select {
			case out <- "late":
				n.sends++
			default:
			}
		}
		for range 3 {
			select {
			case disc <- 1000:
				n.disconnects++
			default:
			}
		}
		got <- n
	})
	c := ts.dial()
	closeFrom(t, c, 1000, "")
	if n := recv(t, got, "the handler's counts"); n.sends != 3 || n.disconnects != 1 {
		t.Fatalf("after done: %d sends and %d disconnects accepted, want 3 and 1", n.sends, n.disconnects)
	}
}

func rowDisconnectFlushes(t *testing.T) {
	const rounds, queued = 20, 10
	ts := serve(t, Messages(testOptions(&logBuffer{})), func(out chan<- string, disc chan<- int, done <-chan bool) {
		for i := range queued {
			out <- fmt.Sprint(i)
		}
		disc <- 1000
		<-done
	})
	for r := range rounds {
		c := ts.dial()
		for i := range queued {
			if _, b := readMessage(t, c); string(b) != fmt.Sprint(i) {
				t.Fatalf("round %d: message %d is %q", r, i, b)
			}
		}
		if code, _ := readClose(t, c); code != 1000 {
			t.Fatalf("round %d: close %d, want 1000", r, code)
		}
		_ = c.Close()
		ts.waitFinished()
	}
}

func rowSenderClosed(t *testing.T) {
	logs := &logBuffer{}
	ends := make(chan end, 1)
	ts := serve(t, Messages(testOptions(logs)), func(out chan<- string, errc <-chan error, done <-chan bool) {
		out <- "a"
		out <- "b"
		close(out)
		ends <- watchEnd(done, errc)
	})
	c := ts.dial()
	for _, want := range []string{"a", "b"} {
		if _, b := readMessage(t, c); string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
	}
	if code, _ := readClose(t, c); code != 1000 {
		t.Fatalf("close %d, want 1000", code)
	}
	if e := recv(t, ends, "the end"); !e.clean() || e.err != nil {
		t.Fatalf("end %+v, want no error", e)
	}
	if strings.Contains(logs.String(), "[Error]") {
		t.Fatalf("an Error line for a normal end:\n%s", logs)
	}
}

func rowPeerClose(t *testing.T) {
	cases := []struct {
		name       string
		payload    []byte
		wantCode   int
		wantReason string
		wantErr    bool
	}{
		{"1000", gorilla.FormatCloseMessage(1000, ""), 1000, "", false},
		{"1001", gorilla.FormatCloseMessage(1001, ""), 1001, "", false},
		{"4001", gorilla.FormatCloseMessage(4001, "bye now"), 4001, "bye now", true},
		{"empty", nil, 1005, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuffer{}
			p := newProbe[string]()
			ts := serve(t, Messages(testOptions(logs)), p.handler)
			c := ts.dial()
			write(t, c, gorilla.TextMessage, []byte("m1"))
			write(t, c, gorilla.TextMessage, []byte("m2"))
			if err := c.WriteControl(gorilla.CloseMessage, tc.payload, time.Now().Add(wait)); err != nil {
				t.Fatal(err)
			}
			code, reason := readClose(t, c)
			if code != tc.wantCode || reason != tc.wantReason {
				t.Fatalf("echo %d %q, want %d %q", code, reason, tc.wantCode, tc.wantReason)
			}
			if a, b := p.next(t), p.next(t); a != "m1" || b != "m2" {
				t.Fatalf("delivered %q %q", a, b)
			}
			e := p.end(t)
			if !e.clean() || (e.err != nil) != tc.wantErr {
				t.Fatalf("end %+v, want an error: %v", e, tc.wantErr)
			}
			ts.waitFinished()
			if !tc.wantErr && strings.Contains(logs.String(), "[Error]") {
				t.Fatalf("a normal close logged at Error:\n%s", logs)
			}
		})
	}
}

func rowTCPDrop(t *testing.T) {
	p := newProbe[string]()
	ts := serve(t, Messages(testOptions(&logBuffer{})), p.handler)
	c := ts.dial()
	write(t, c, gorilla.TextMessage, []byte("last words"))
	if m := p.next(t); m != "last words" {
		t.Fatalf("got %q", m)
	}
	_ = c.UnderlyingConn().Close()
	if e := p.end(t); !e.clean() || e.err == nil {
		t.Fatalf("end %+v, want the cause before done", e)
	}
}

func rowReceiverKept(t *testing.T) {
	type result struct {
		got     []string
		blocked bool
	}
	res := make(chan result, 1)
	ts := serve(t, Messages(testOptions(&logBuffer{})), func(in <-chan string, done <-chan bool) {
		<-done
		var r result
		for range 5 {
			select {
			case m := <-in:
				r.got = append(r.got, m)
			default:
			}
		}
		select {
		case _, ok := <-in:
			r.blocked = !ok
		default:
			r.blocked = true
		}
		res <- r
	})
	c := ts.dial()
	for i := range 5 {
		write(t, c, gorilla.TextMessage, []byte(fmt.Sprint(i)))
	}
	closeFrom(t, c, 1000, "")
	r := recv(t, res, "the handler's result")
	if strings.Join(r.got, ",") != "0,1,2,3,4" || !r.blocked {
		t.Fatalf("after done read %v (receiver still open: %v), want 0..4 and an open, empty receiver", r.got, r.blocked)
	}
}

func rowHandlerReturns(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.PingPeriod = 50 * time.Millisecond
	returned := make(chan struct{})
	ts := serve(t, Messages(o), func(<-chan string) { close(returned) })
	c := ts.dial()
	recv(t, returned, "the handler's return")
	pinged := make(chan struct{}, 1)
	c.SetPingHandler(func(data string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return c.WriteControl(gorilla.PongMessage, []byte(data), time.Now().Add(wait))
	})
	go func() { _, _, _ = c.ReadMessage() }()
	recv(t, pinged, "a ping after the handler returned")
	closeFrom(t, c, 1000, "")
	ts.waitFinished()
}

func rowHandlerReturnsStatus(t *testing.T) {
	ts := serve(t, Messages(testOptions(&logBuffer{})), func(<-chan string) (int, string) { return 200, "OK" })
	c := ts.dial()
	closeFrom(t, c, 1000, "")
	if code, reason := readClose(t, c); code != 1000 {
		t.Fatalf("got %d %q, want the close echo and nothing before it", code, reason)
	}
	ts.waitFinished()
}

func rowAbandonedReceiver(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.PingPeriod, o.PongWait = 50*time.Millisecond, 300*time.Millisecond
	ts := serve(t, Messages(o), func(<-chan string) {})
	c := ts.dial()
	for i := range 20 {
		write(t, c, gorilla.TextMessage, []byte(fmt.Sprint(i)))
	}
	closeFrom(t, c, 1000, "")
	_ = c.Close()
	ts.waitFinished() // and the cleanup's goleak check finds nothing
}

func rowFloodNotRead(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.PingPeriod, o.PongWait = 50*time.Millisecond, 200*time.Millisecond
	held := make(chan int, 1)
	ends := make(chan end, 1)
	ts := serve(t, Messages(o), func(in <-chan string, errc <-chan error, done <-chan bool) {
		ends <- watchEnd(done, errc)
		held <- len(in)
	})
	c := ts.dial()
	msg := []byte(strings.Repeat("x", 1024))
	sent := 0
	for ; sent < 100000; sent++ {
		_ = c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		if err := c.WriteMessage(gorilla.TextMessage, msg); err != nil {
			break
		}
	}
	if sent == 100000 || sent < 10 {
		t.Fatalf("%d messages accepted: want TCP back-pressure after the receiver's 10 and the kernel's buffers", sent)
	}
	// Three PongWaits with every pong stuck behind unread data: the server
	// must not take the peer for dead.
	_ = c.SetReadDeadline(time.Now().Add(3 * o.PongWait))
	_, _, err := c.ReadMessage()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("the connection ended while the handler held back delivery: %v", err)
	}
	_ = c.Close()
	e := recv(t, ends, "the end after the client left")
	if !e.clean() || e.err == nil {
		t.Fatalf("end %+v, want the cause before done", e)
	}
	if n := recv(t, held, "the receiver's length"); n != 10 {
		t.Fatalf("receiver held %d values, want its capacity, 10", n)
	}
}

func rowConcurrentEcho(t *testing.T) {
	const clients, messages = 8, 50
	ends := make(chan end, 3*clients)
	servers := []*testServer{
		serve(t, Messages(testOptions(&logBuffer{})), echoUntilDone[string](ends)),
		serve(t, ByteSliceMessages(testOptions(&logBuffer{})), echoUntilDone[[]byte](ends)),
		serve(t, JSON(ChatMessage{}, testOptions(&logBuffer{})), echoUntilDone[*ChatMessage](ends)),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*clients)
	for _, ts := range servers {
		for i := range clients {
			c := ts.dial()
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- echoRounds(c, i, messages)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 3 * clients {
		if e := recv(t, ends, "an end"); !e.clean() || e.err != nil {
			t.Fatalf("end %+v", e)
		}
	}
}

// echoRounds sends n messages with up to 4 in flight, checks the echoes, and
// closes normally.
func echoRounds(c *gorilla.Conn, id, n int) error {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_ = c.SetWriteDeadline(time.Now().Add(wait))
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			m := ChatMessage{From: fmt.Sprint(id), Text: fmt.Sprint(i)}
			if err := c.WriteJSON(m); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := range n {
		var m ChatMessage
		_, p, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if err := json.Unmarshal(p, &m); err != nil || m.Text != fmt.Sprint(i) || m.From != fmt.Sprint(id) {
			return fmt.Errorf("client %d: echo %d is %q (%v)", id, i, p, err)
		}
	}
	if err := <-errc; err != nil {
		return err
	}
	if err := c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(1000, ""), time.Now().Add(wait)); err != nil {
		return err
	}
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			if gorilla.IsCloseError(err, 1000) {
				return nil
			}
			return err
		}
	}
}
