package sockets

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"

	"github.com/go-macaron/sockets/wschan"
)

// fragment builds one masked client frame; fin says whether it ends the
// message.
func fragment(opcode byte, payload []byte, fin bool) []byte {
	f := maskedFrame(opcode, payload)
	if !fin {
		f[0] &^= 0x80
	}
	return f
}

// TestFragmentedMessages: a message in many fragments is delivered whole
// when it fits MaxMessageSize; one that does not gets 1009 with the cause on
// the error channel, after every message before it was delivered.
func TestFragmentedMessages(t *testing.T) {
	checkLeaks(t)
	o := testOptions(&logBuffer{})
	o.MaxMessageSize = 16
	p := newProbe[string]()
	ts := serve(t, Messages(o), p.handler)
	c := ts.dial()
	raw := c.UnderlyingConn()
	fits := append(append(fragment(0x1, []byte("01234"), false), fragment(0x0, []byte("56789"), false)...),
		fragment(0x0, []byte("abcdef"), true)...)
	if _, err := raw.Write(fits); err != nil {
		t.Fatal(err)
	}
	if m := p.next(t); m != "0123456789abcdef" {
		t.Fatalf("fragmented message arrived as %q", m)
	}
	var over []byte
	over = append(over, fragment(0x1, []byte("0123456789"), false)...)
	for range 5 {
		over = append(over, fragment(0x0, []byte("0123456789"), false)...)
	}
	over = append(over, fragment(0x0, []byte("end"), true)...)
	if _, err := raw.Write(over); err != nil {
		t.Fatal(err)
	}
	if code, _ := readClose(t, c); code != 1009 {
		t.Fatalf("close %d, want 1009", code)
	}
	e := p.end(t)
	if !e.clean() || e.err == nil || !strings.Contains(e.err.Error(), "message too big") {
		t.Fatalf("end %+v, want the size error before done", e)
	}
	if len(p.got) != 0 {
		t.Fatal("part of the oversized message was delivered")
	}
}

// freezer is a loopback TCP proxy that can stop forwarding without closing
// anything: to the server, the peer vanished without a FIN.
type freezer struct {
	ln     net.Listener
	target string
	frozen chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, frozen: make(chan struct{})}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *freezer) accept() {
	defer f.wg.Done()
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", f.target)
		if err != nil {
			in.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, in, out)
		f.mu.Unlock()
		f.wg.Add(2)
		go f.pipe(in, out)
		go f.pipe(out, in)
	}
}

// pipe forwards src to dst until frozen, then drops what it reads.
func (f *freezer) pipe(dst, src net.Conn) {
	defer f.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			if err != nil {
				return
			}
			continue // swallowed: the peer is gone for the other side
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() { f.once.Do(func() { close(f.frozen) }) }

func (f *freezer) close() {
	f.freeze()
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// TestPeerVanishes: a peer that disappears without a FIN (the proxy stops
// forwarding, the sockets stay open) is dropped within PongWait +
// PingPeriod of its last sign of life, with wschan.ErrPongTimeout.
func TestPeerVanishes(t *testing.T) {
	checkLeaks(t)
	o := testOptions(&logBuffer{})
	o.PingPeriod, o.PongWait = 100*time.Millisecond, 400*time.Millisecond
	p := newProbe[string]()
	ts := serve(t, Messages(o), p.handler)
	proxy := newFreezer(t, ts.host)
	addr := proxy.ln.Addr().String()
	c, _, err := (&gorilla.Dialer{HandshakeTimeout: wait}).Dial("ws://"+addr+"/ws", map[string][]string{"Origin": {"http://" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { _, _, _ = c.ReadMessage() }() // answers pings until frozen
	write(t, c, gorilla.TextMessage, []byte("alive"))
	if m := p.next(t); m != "alive" {
		t.Fatalf("got %q", m)
	}
	proxy.freeze()
	vanished := time.Now()
	e := p.end(t)
	lasted := time.Since(vanished)
	if !e.clean() || !errors.Is(e.err, wschan.ErrPongTimeout) {
		t.Fatalf("end %+v, want wschan.ErrPongTimeout", e)
	}
	// The last pong may have come up to one PingPeriod before the freeze.
	if limit := o.PongWait + o.PingPeriod + time.Second; lasted > limit {
		t.Fatalf("detected %v after the peer vanished, want within PongWait + PingPeriod (+1 s of slack)", lasted)
	}
	t.Logf("a vanished peer was dropped %v after it went silent", lasted)
}

// TestStalledPeerDoesNotBlockHandler: a peer that never reads while the
// handler keeps sending: WriteWait ends the connection; a handler that stops
// sending at done returns.
func TestStalledPeerDoesNotBlockHandler(t *testing.T) {
	checkLeaks(t)
	o := testOptions(&logBuffer{})
	o.WriteWait = 200 * time.Millisecond
	returned := make(chan error, 1)
	ts := serve(t, ByteSliceMessages(o), func(out chan<- []byte, errc <-chan error, done <-chan bool) {
		big := make([]byte, 256<<10)
		for {
			select {
			case out <- big:
			case <-done:
				returned <- <-errc
				return
			}
		}
	})
	c := ts.dial() // never reads
	err := recv(t, returned, "the handler's return")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("cause %v, want a write timeout", err)
	}
	_ = c.Close()
	ts.waitFinished()
}

// TestTextInvalidUTF8: a text frame that is not valid UTF-8 closes with 1007
// for every kind (RFC 6455 8.1), after the messages before it were
// delivered; a binary frame with the same bytes is delivered as it is.
func TestTextInvalidUTF8(t *testing.T) {
	checkLeaks(t)
	p := newProbe[[]byte]()
	ts := serve(t, ByteSliceMessages(testOptions(&logBuffer{})), p.handler)
	c := ts.dial()
	write(t, c, gorilla.BinaryMessage, []byte{0xc3, 0x28})
	write(t, c, gorilla.TextMessage, []byte{0xc3, 0x28})
	if m := p.next(t); string(m) != "\xc3\x28" {
		t.Fatalf("got %q", m)
	}
	if code, _ := readClose(t, c); code != 1007 {
		t.Fatalf("close %d, want 1007", code)
	}
	if e := p.end(t); !e.clean() || !errors.Is(e.err, wschan.ErrInvalidUTF8) {
		t.Fatalf("end %+v, want wschan.ErrInvalidUTF8 before done", e)
	}
}
