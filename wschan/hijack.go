package wschan

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/go-macaron/sockets/internal/frames"
	"github.com/go-macaron/sockets/internal/park"
)

// upgradeWriter is the ResponseWriter handed to the transport's Accept. The
// 101 goes out on the hijacked connection with the handshake's headers
// alone, so nothing earlier middleware set on the response (a session's
// Set-Cookie, gzip's Content-Encoding, CORS) and no Date reaches the
// client, as with the original. It keeps the hijacked connection, and
// routes every read and write through a writeConn.
type upgradeWriter struct {
	http.ResponseWriter
	writeWait time.Duration
	bufs      *sync.Pool
	parkAfter time.Duration // how long reads stay idle before the read loop parks; 0: never

	header http.Header // the handshake's own headers
	status int         // what the transport answered with
	conn   *writeConn  // the hijacked connection, as the transport reads and writes it
}

// Header returns the handshake's headers, not the response's: what earlier
// middleware set there stays off the 101.
func (w *upgradeWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header, 4)
	}
	return w.header
}

// WriteHeader records the status; Hijack writes it.
func (w *upgradeWriter) WriteHeader(status int) { w.status = status }

// Write is never called by the transport on success; it refuses.
func (w *upgradeWriter) Write([]byte) (int, error) { return 0, http.ErrHijacked }

// Hijack takes over the connection and writes the 101 with the handshake's
// headers. The transport reads through the returned conn (after the bytes
// already buffered) and writes through the returned bufio.Writer, both of
// which go through the writeConn.
func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.status != http.StatusSwitchingProtocols {
		return nil, nil, fmt.Errorf("sockets: hijack after status %d, want 101", w.status)
	}
	raw, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("sockets: hijack: %w", err)
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = raw.Close()
		return nil, nil, fmt.Errorf("sockets: hijack: %w", err)
	}
	conn := &writeConn{Conn: raw, writeWait: w.writeWait, bufs: w.bufs}
	// Every byte the transport reads, those the server had buffered past
	// the request included, passes the close guard (and the read gate).
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ := brw.Reader.Peek(n)
		conn.prefix = bytes.Clone(buffered)
		_, _ = brw.Reader.Discard(n)
	}
	conn.rd.Init(raw, w.parkAfter)
	w.conn = conn
	brw.Writer.Reset(conn)
	_, _ = brw.Writer.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = w.header.Write(brw.Writer)
	_, _ = brw.Writer.WriteString("\r\n")
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("sockets: write the 101: %w", err)
	}
	conn.tracking = true // the frames start after the 101
	return conn, brw, nil
}

// maxBatch bounds the bytes a batch holds before they are written out.
const maxBatch = 64 << 10

// writeConn is the hijacked connection as the transport reads it (through
// the close guard and the read gate), writes to it and closes it. It bounds
// every write by writeWait, whoever writes (a deadline does not allocate,
// unlike a cancellable context per write). Between beginBatch and endBatch
// it gathers writes, so that several queued messages reach the socket in
// one system call. What a write reported as written reaches the socket
// before it is closed: Close flushes the batch first (the transport
// answers a peer's close frame from the read loop, and closes the socket
// right after, while the write loop may hold a batch open).
type writeConn struct {
	net.Conn
	writeWait time.Duration
	bufs      *sync.Pool

	guard    closeGuard    // what the transport reads passes it first
	lastRead *atomic.Int64 // when bytes from the peer were last read, since born; may be nil
	born     time.Time
	rd       park.Gate
	prefix   []byte // what the server had read past the handshake

	mu        sync.Mutex
	batching  bool
	batch     *[]byte
	closed    bool
	tracking  bool                  // frames are followed (sent, sentClose): from after the 101
	sent      frames.Track          // the frames written so far
	sentClose *websocket.CloseError // the close frame written, once it is
}

func (c *writeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.tracking {
		c.noteClose(p)
	}
	if c.batching {
		if len(*c.batch)+len(p) <= maxBatch {
			*c.batch = append(*c.batch, p...)
			return len(p), nil
		}
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) < maxBatch {
			*c.batch = append(*c.batch, p...)
			return len(p), nil
		}
	}
	return c.write(p)
}

// noteClose keeps the close frame p starts with, if it does, and follows
// the frame boundaries over p. The transport writes a close frame (its own,
// as for a message over the read limit, or ours) in one write at a frame
// boundary, having flushed every message before it: so the close record
// tells what went on the wire, whoever wrote it.
func (c *writeConn) noteClose(p []byte) {
	if c.sentClose == nil && c.sent.Boundary() && len(p) >= 2 && p[0]&0x0f == 0x8 {
		n, head := int(p[1]&0x7f), 2
		if p[1]&0x80 != 0 {
			head = 6 // a client's frame: masked
		}
		if n <= 125 && len(p) >= head+n {
			payload := bytes.Clone(p[head : head+n])
			if head == 6 {
				for i := range payload {
					payload[i] ^= p[2+i%4]
				}
			}
			ce := &websocket.CloseError{Code: websocket.StatusNoStatusRcvd}
			if n >= 2 {
				ce.Code, ce.Reason = websocket.StatusCode(binary.BigEndian.Uint16(payload)), string(payload[2:])
			}
			c.sentClose = ce
		}
	}
	c.sent.Feed(p)
}

// closeSent returns the close frame written, or nil.
func (c *writeConn) closeSent() *websocket.CloseError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sentClose
}

// Read reads for the transport, through the close guard.
func (c *writeConn) Read(p []byte) (int, error) { return c.guard.read(p, c) }

// readSocket reads what the peer sent: what the server had buffered past
// the handshake first, then the socket; through the read gate when the read
// loop may park.
func (c *writeConn) readSocket(p []byte) (n int, err error) {
	defer func() {
		if n > 0 && c.lastRead != nil {
			c.lastRead.Store(int64(time.Since(c.born)))
		}
	}()
	if len(c.prefix) > 0 {
		n = copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		c.rd.Handed(p[:n])
		return n, nil
	}
	if c.rd.Enabled() {
		return c.rd.Read(c.Conn, p)
	}
	return c.Conn.Read(p)
}

// closeDeadline bounds the close handshake's reads by t.
func (c *writeConn) closeDeadline(t time.Time) {
	if !c.rd.Enabled() {
		_ = c.Conn.SetReadDeadline(t)
		return
	}
	c.rd.CloseDeadline(c.Conn, t)
}

// Close writes out what a batch holds, then closes the socket. A write
// already in progress finishes first (bounded by writeWait), and nothing is
// written after.
func (c *writeConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	var ferr error
	if c.batching {
		ferr = c.flushLocked()
	}
	c.closed = true
	err := c.Conn.Close()
	if ferr != nil {
		return fmt.Errorf("flush before close: %w", ferr)
	}
	return err
}

// write puts p on the socket, bounded by writeWait.
func (c *writeConn) write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeWait)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *writeConn) flushLocked() error {
	if len(*c.batch) == 0 {
		return nil
	}
	_, err := c.write(*c.batch)
	*c.batch = (*c.batch)[:0]
	return err
}

// beginBatch starts gathering writes.
func (c *writeConn) beginBatch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = true
	c.batch = c.bufs.Get().(*[]byte)
	*c.batch = (*c.batch)[:0]
}

// endBatch writes what was gathered and stops gathering. Once the socket
// is closed, Close has written the batch and nothing is left to write.
func (c *writeConn) endBatch() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	c.batching = false
	c.bufs.Put(c.batch)
	c.batch = nil
	return err
}
