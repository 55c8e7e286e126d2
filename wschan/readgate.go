package wschan

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// An idle connection's read loop does not keep a goroutine either (see
// park.go for the write loop's). The transport reads through a readGate,
// which sets the socket's read deadline parkAfter after the loop last had
// data. When the deadline passes while the stream stands between two
// messages (no frame half read, nothing buffered: the transport asks for
// the first byte of a header), the gate answers errPark instead of data.
// The transport's reader then returns that error without having consumed
// anything, so the read loop can hand the socket to the endpoint's
// readParker and return; the parker starts a new read loop once the socket
// is readable (data, a close frame, or the peer gone). A deadline that
// passes anywhere else is re-armed and the read goes on, unseen by the
// transport.

// errPark is what the gate answers when the read loop may park.
var errPark = errors.New("sockets: the read loop parks")

// minRearm bounds how soon a deadline that passed mid-frame fires again.
const minRearm = time.Millisecond

// readGate is the read side of the hijacked connection, as the transport
// reads it. Its reads happen under the transport's read lock, one at a
// time; mu guards what the shutdown sets concurrently.
type readGate struct {
	after time.Duration   // park after this long without data; 0: never
	rc    syscall.RawConn // the socket, for the parker's readiness wait

	track frameTrack
	armed bool // a park deadline is set
	got   bool // data arrived since it was set

	atStart atomic.Bool // the read loop waits for a message's first frame

	mu      sync.Mutex
	closing bool      // the close handshake owns the deadline now
	closeAt time.Time // the close handshake's deadline
	stuck   bool      // the parker could not take the socket: never park again

	inSet uint64 // the number of the parker's epoll set the socket is in (0: none); under the parker's lock
}

// init enables parking for c, when reads can park on this system and c's
// socket can be waited for without a read (see socketOf), and reports
// whether it did. Where it does not, the gate is off: reads go straight to
// c and the read loop keeps its goroutine.
func (g *readGate) init(c net.Conn, after time.Duration) bool {
	if !canParkReads || after <= 0 {
		return false
	}
	rc, ok := socketOf(c)
	if !ok {
		return false
	}
	g.rc, g.after = rc, after
	return true
}

// maxUnwrap bounds how many wrappers socketOf looks through.
const maxUnwrap = 8

// socketOf finds the socket under c: c itself when it is a syscall.Conn (a
// TCP or Unix socket), or the connection a wrapper holds, when the wrapper
// returns it from a NetConn method or embeds it as a net.Conn (as
// netutil.LimitListener's connections do). The gate reads through c, the
// wrapper, and waits on the socket only once a read of c has found nothing
// to read, so a wrapper that buffers is safe. A TLS connection is not
// looked through: its reads are records, not the socket's bytes.
func socketOf(c net.Conn) (syscall.RawConn, bool) {
	for range maxUnwrap {
		if _, ok := c.(*tls.Conn); ok {
			return nil, false
		}
		if sc, ok := c.(syscall.Conn); ok {
			rc, err := sc.SyscallConn()
			return rc, err == nil
		}
		inner := unwrap(c)
		if inner == nil {
			return nil, false
		}
		c = inner
	}
	return nil, false
}

// unwrap returns the connection c wraps, or nil.
func unwrap(c net.Conn) net.Conn {
	if w, ok := c.(interface{ NetConn() net.Conn }); ok {
		return w.NetConn()
	}
	v := reflect.ValueOf(c)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	f, ok := v.Type().FieldByName("Conn")
	if !ok || !f.Anonymous || f.Type != reflect.TypeFor[net.Conn]() || len(f.Index) != 1 {
		return nil
	}
	inner, _ := v.Field(f.Index[0]).Interface().(net.Conn)
	return inner
}

// enabled reports whether the read loop may park.
func (g *readGate) enabled() bool { return g.after > 0 }

// handed tracks b, bytes the transport got from elsewhere than read (the
// server's buffer past the handshake).
func (g *readGate) handed(b []byte) {
	if g.enabled() {
		g.track.feed(b)
	}
}

// read reads from c into p for the transport.
func (g *readGate) read(c net.Conn, p []byte) (int, error) {
	for {
		n, err := c.Read(p)
		if n > 0 {
			g.track.feed(p[:n])
			if g.armed {
				g.got = true
			} else {
				g.arm(c)
			}
			return n, err
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		park, retry := g.expired(c)
		switch {
		case park:
			return 0, errPark
		case !retry:
			return 0, err
		}
	}
}

// arm sets the park deadline, after from now.
func (g *readGate) arm(c net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return
	}
	g.armed, g.got = true, false
	_ = c.SetReadDeadline(time.Now().Add(g.after))
}

// expired decides what a passed deadline means: park (the loop may give up
// its goroutine), retry (the read goes on, the deadline re-armed if it was
// ours), or neither (it was the close handshake's: the error stands).
func (g *readGate) expired(c net.Conn) (park, retry bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false, time.Now().Before(g.closeAt)
	}
	if g.stuck {
		_ = c.SetReadDeadline(time.Time{})
		return false, true
	}
	if !g.got && g.atStart.Load() && g.track.boundary() {
		g.armed = false
		_ = c.SetReadDeadline(time.Time{})
		return true, false
	}
	g.got = false
	_ = c.SetReadDeadline(time.Now().Add(max(g.after, minRearm)))
	return false, true
}

// stopParking keeps the read loop on its goroutine from now on: the parker
// could not register the socket.
func (g *readGate) stopParking() {
	g.mu.Lock()
	g.stuck = true
	g.mu.Unlock()
}

// closeDeadline bounds the close handshake's reads by t; the gate leaves
// the deadline alone from then on.
func (g *readGate) closeDeadline(c net.Conn, t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closing, g.closeAt = true, t
	_ = c.SetReadDeadline(t)
}

// frameTrack follows the frame boundaries of what the peer sent, so that
// the gate knows whether a read would start a new frame. Only the header's
// length fields are looked at; the payload is skipped by count.
type frameTrack struct {
	hdr     [10]byte // the header so far: two bytes and up to eight of length
	hn      int      // header bytes seen
	payload uint64   // payload bytes still to come
}

// feed advances the tracker over b.
func (t *frameTrack) feed(b []byte) {
	for len(b) > 0 {
		if t.payload > 0 {
			k := min(t.payload, uint64(len(b)))
			t.payload -= k
			b = b[k:]
			continue
		}
		if t.hn < len(t.hdr) {
			t.hdr[t.hn] = b[0]
		}
		t.hn++
		b = b[1:]
		if t.hn < 2 {
			continue
		}
		ext := 0
		switch t.hdr[1] & 0x7f {
		case 126:
			ext = 2
		case 127:
			ext = 8
		}
		size := 2 + ext
		if t.hdr[1]&0x80 != 0 {
			size += 4 // the mask key
		}
		if t.hn < size {
			continue
		}
		switch ext {
		case 0:
			t.payload = uint64(t.hdr[1] & 0x7f)
		case 2:
			t.payload = uint64(binary.BigEndian.Uint16(t.hdr[2:4]))
		default:
			t.payload = binary.BigEndian.Uint64(t.hdr[2:10])
		}
		t.hn = 0
	}
}

// boundary reports whether the stream stands between two frames.
func (t *frameTrack) boundary() bool { return t.hn == 0 && t.payload == 0 }
