package park

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-macaron/sockets/internal/frames"
)

// ErrPark is what the gate answers when the read loop may park.
var ErrPark = errors.New("sockets: the read loop parks")

// minRearm bounds how soon a deadline that passed mid-frame fires again.
const minRearm = time.Millisecond

// Gate is the read side of a connection's socket, as the transport reads
// it. It sets the socket's read deadline "after" after the loop last had
// data. When the deadline passes while the stream stands between two
// messages (no frame half read, the transport asking for a header's first
// byte), it answers ErrPark instead of data: the transport returns that
// error having consumed nothing, and the read loop hands the socket to
// Readers. A deadline that passes anywhere else is re-armed, unseen by the
// transport. Its reads happen under the transport's read lock, one at a
// time; mu guards what the shutdown sets concurrently. The zero value is
// off: reads pass through.
type Gate struct {
	after time.Duration   // park after this long without data; 0: never
	rc    syscall.RawConn // the socket, for the parker's readiness wait

	track frames.Track
	armed bool // a park deadline is set
	got   bool // data arrived since it was set

	// AtStart is set while the read loop waits for a message's first
	// frame: only then may the gate park it.
	AtStart atomic.Bool

	mu      sync.Mutex
	closing bool      // the close handshake owns the deadline now
	closeAt time.Time // the close handshake's deadline
	stuck   bool      // the parker could not take the socket: never park again

	// Readers' registration, under its lock.
	inSet  uint64 // the number of Readers' epoll set the socket is in (0: none)
	readID uint64 // its registration id
}

// Init enables parking for c, when reads can park on this system and c's
// socket can be waited for without a read (see socketOf), and reports
// whether it did. Where it does not, the gate is off: reads go straight to
// c and the read loop keeps its goroutine.
func (g *Gate) Init(c net.Conn, after time.Duration) bool {
	if !CanParkReads || after <= 0 {
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

// Enabled reports whether the read loop may park.
func (g *Gate) Enabled() bool { return g.after > 0 }

// Handed tracks b, bytes the transport got from elsewhere than Read (the
// server's buffer past the handshake).
func (g *Gate) Handed(b []byte) {
	if g.Enabled() {
		g.track.Feed(b)
	}
}

// Read reads from c into p for the transport.
func (g *Gate) Read(c net.Conn, p []byte) (int, error) {
	for {
		n, err := c.Read(p)
		if n > 0 {
			g.track.Feed(p[:n])
			if g.armed {
				g.got = true
			} else {
				g.Arm(c)
			}
			return n, err
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		park, retry := g.expired(c)
		switch {
		case park:
			return 0, ErrPark
		case !retry:
			return 0, err
		}
	}
}

// Arm sets the park deadline, after from now: a peer that never sends
// parks too.
func (g *Gate) Arm(c net.Conn) {
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
func (g *Gate) expired(c net.Conn) (park, retry bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false, time.Now().Before(g.closeAt)
	}
	if g.stuck {
		_ = c.SetReadDeadline(time.Time{})
		return false, true
	}
	if !g.got && g.AtStart.Load() && g.track.Boundary() {
		g.armed = false
		_ = c.SetReadDeadline(time.Time{})
		return true, false
	}
	g.got = false
	_ = c.SetReadDeadline(time.Now().Add(max(g.after, minRearm)))
	return false, true
}

// StopParking keeps the read loop on its goroutine from now on: Readers
// could not register the socket.
func (g *Gate) StopParking() {
	g.mu.Lock()
	g.stuck = true
	g.mu.Unlock()
}

// CloseDeadline bounds the close handshake's reads by t; the gate leaves
// the deadline alone from then on.
func (g *Gate) CloseDeadline(c net.Conn, t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closing, g.closeAt = true, t
	_ = c.SetReadDeadline(t)
}
