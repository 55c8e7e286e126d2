//go:build linux

package sockets

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-macaron/sockets/internal/wstest"
	gorilla "github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"
)

// parkAtOnce sets o to park its connections' loops at their first idle
// moment, and returns it.
func parkAtOnce(o *Options) *Options {
	o.ParkAfter = time.Nanosecond
	return o
}

// echoCountingParks is a handler that echoes each message and, once the
// connection has ended, sends how many times its read loop parked. It
// hands its connection to started first, when that is not nil.
func echoCountingParks(parks chan<- int64, started chan<- *Connection) func(<-chan string, chan<- string, <-chan bool, *Connection) {
	return func(in <-chan string, out chan<- string, done <-chan bool, c *Connection) {
		if started != nil {
			started <- c
		}
		for {
			select {
			case m := <-in:
				out <- m
			case <-done:
				parks <- c.Stats().ReadParks
				return
			}
		}
	}
}

// TestReadParkStress runs the read loop's parking (internal/park) against a
// raw-frame client that splits its frames at random bytes and pauses
// between the pieces, so that the park deadline passes mid-header,
// mid-payload, between the fragments of a message, after a ping inside a
// fragmented message, and between messages; the first frames even arrive
// with the handshake request. With parkAfter at 1ns every idle moment at a
// message boundary parks the read loop. Each of the runs must echo every
// message intact and in order, answer every ping, close cleanly with 1000,
// and must have parked. The write loop, idle from the connection's birth,
// parks as it starts (a late start). The same runs go behind a listener
// whose connections embed the socket (as netutil.LimitListener's do) and
// behind one whose connections return it from NetConn.
func TestReadParkStress(t *testing.T) {
	for _, w := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"plain", nil},
		{"embedded", func(c net.Conn) net.Conn { return struct{ net.Conn }{c} }},
		{"NetConn", func(c net.Conn) net.Conn { return &wstest.NetConnWrapper{Inner: c} }},
	} {
		t.Run(w.name, func(t *testing.T) { readParkStress(t, w.wrap) })
	}
}

func readParkStress(t *testing.T, wrap func(net.Conn) net.Conn) {
	checkLeaks(t)

	const runs = 200
	parks := make(chan int64, runs)
	started := make(chan *Connection, 1)
	logs := &logBuffer{}
	ts := serveWrapped(t, wrap, Messages(parkAtOnce(testOptions(logs))), echoCountingParks(parks, started))
	var total int64
	for run := range runs {
		rng := rand.New(rand.NewPCG(uint64(run), 7))
		long := bytes.Repeat([]byte{'a' + byte(run%26)}, 126+rng.IntN(400))
		want := []string{fmt.Sprint("m", run), string(long), fmt.Sprint("frag-", run, "-ment")}
		// The stream, in three parts: a short message and a ping; a 126+
		// byte message; a message in three fragments with a ping between
		// the first two. Between parts the client pauses for longer than
		// the gate takes to park (two re-arms of a millisecond).
		parts := [][]byte{
			append(fragment(opText, []byte(want[0]), true), fragment(opPing, []byte("p1"), true)...),
			fragment(opText, long, true),
			slices.Concat(
				fragment(opText, []byte(want[2][:4]), false),
				fragment(opPing, []byte("p2"), true),
				fragment(opContinuation, []byte(want[2][4:9]), false),
				fragment(opContinuation, []byte(want[2][9:]), true)),
		}
		// Some of the first part goes with the handshake request.
		first := rng.IntN(8)
		r := ts.raw("GET", "", upgradeHeaders("http://"+ts.host), parts[0][:first])
		if r.status != 101 {
			t.Fatalf("run %d: handshake: %d %q", run, r.status, r.body)
		}
		c := &rawClient{t: t, conn: r.conn, br: r.br}
		conn := recv(t, started, "the connection")
		parts[0] = parts[0][first:]
		for _, rest := range parts {
			before := conn.Stats().ReadParks
			for len(rest) > 0 {
				n := min(len(rest), 1+rng.IntN(9))
				c.send(rest[:n])
				rest = rest[n:]
				if rng.IntN(8) == 0 {
					time.Sleep(time.Duration(rng.IntN(1500)) * time.Microsecond) // let the deadline pass mid-frame
				}
			}
			// The read loop parks once it has read the part: wait for
			// that park, counted, however slow the machine.
			for deadline := time.Now().Add(wait); conn.Stats().ReadParks == before; {
				if time.Now().After(deadline) {
					t.Fatalf("run %d: the read loop did not park within %v after a part", run, wait)
				}
				time.Sleep(time.Millisecond)
			}
		}
		var got []string
		pongs := 0
		for len(got) < len(want) || pongs < 2 {
			f, err := c.next()
			if err != nil {
				t.Fatalf("run %d: after %q and %d pongs: %v", run, got, pongs, err)
			}
			switch f.opcode {
			case opText:
				got = append(got, string(f.payload))
			case opPong:
				pongs++
			case opPing:
			default:
				t.Fatalf("run %d: unexpected %v", run, f)
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("run %d: message %d is %.40q, want %.40q", run, i, got[i], want[i])
			}
		}
		c.send(closeFrame(1000, "bye"))
		if _, closing := c.untilClose(); closing.opcode != opClose {
			t.Fatalf("run %d: %v", run, closing)
		} else if code, _ := closing.closeCode(); code != 1000 {
			t.Fatalf("run %d: close code %d, want 1000", run, code)
		}
		_ = c.conn.Close()
		if st := conn.Stats(); st.WriteParks == 0 {
			t.Fatalf("run %d: the write loop never parked", run)
		}
		select {
		case n := <-parks:
			if n == 0 {
				t.Fatalf("run %d: the read loop never parked", run)
			}
			total += n
		case <-time.After(wait):
			t.Fatalf("run %d: the handler did not end", run)
		}
	}
	t.Logf("%d runs, %d parks of the read loop", runs, total)
}

// refusingListener hands out TCP connections whose raw descriptor cannot
// be reached (Control fails), as a socket epoll would refuse.
type refusingListener struct{ net.Listener }

func (l refusingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return refusingConn{c.(*net.TCPConn)}, nil
}

type refusingConn struct{ *net.TCPConn }

func (c refusingConn) SyscallConn() (syscall.RawConn, error) {
	rc, err := c.TCPConn.SyscallConn()
	return refusingRaw{rc}, err
}

type refusingRaw struct{ syscall.RawConn }

func (refusingRaw) Control(func(uintptr)) error { return errors.New("refused for the test") }

// TestReadParkRefused: when the read parker cannot register a socket, the
// connection goes on unparked, for good (one attempt, logged once), and
// still echoes every message and closes cleanly, with every loop parking at
// its first idle moment.
func TestReadParkRefused(t *testing.T) {
	checkLeaks(t)

	logs := &logBuffer{}
	parks := make(chan int64, 1)
	m := macaron.New()
	m.Get("/ws", Messages(parkAtOnce(testOptions(logs))), echoCountingParks(parks, nil))
	srv := httptest.NewUnstartedServer(m)
	srv.Listener = refusingListener{srv.Listener}
	srv.Start()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ws, _, err := gorilla.DefaultDialer.Dial("ws://"+host+"/ws", http.Header{"Origin": {"http://" + host}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for i := range 20 {
		want := fmt.Sprint("m", i)
		write(t, ws, gorilla.TextMessage, []byte(want))
		if _, got := readMessage(t, ws); string(got) != want {
			t.Fatalf("echo %q, want %q", got, want)
		}
		time.Sleep(3 * time.Millisecond) // idle at a message boundary: the gate asks to park
	}
	closeFrom(t, ws, 1000, "bye")
	if code, _ := readClose(t, ws); code != 1000 {
		t.Fatalf("close %d, want 1000", code)
	}
	select {
	case n := <-parks:
		if n != 0 {
			t.Fatalf("parked %d times on a socket the parker cannot register", n)
		}
	case <-time.After(wait):
		t.Fatal("the handler did not end")
	}
	if n := strings.Count(logs.String(), "The read loop cannot park"); n != 1 {
		t.Fatalf("%d lines say the read loop cannot park, want 1:\n%s", n, logs)
	}
}
