package sockets

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"gopkg.in/macaron.v1"
)

// upgradeWriter is the ResponseWriter handed to the transport's Accept. It
// keeps hold of the hijacked connection, so that the middleware can bound the
// close handshake, and routes every write through a writeConn.
type upgradeWriter struct {
	http.ResponseWriter
	writeWait time.Duration
	bufs      *sync.Pool
	raw       net.Conn
	conn      *writeConn
}

// Hijack takes over the connection. The transport reads through the returned
// conn (after the bytes already buffered) and writes through the returned
// bufio.Writer, both of which go through the writeConn.
func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("sockets: the ResponseWriter cannot be hijacked")
	}
	raw, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.raw = raw
	conn := &writeConn{Conn: raw, writeWait: w.writeWait, bufs: w.bufs}
	w.conn = conn
	if err := brw.Writer.Flush(); err != nil {
		_ = raw.Close()
		return nil, nil, err
	}
	brw.Writer.Reset(conn)
	return conn, brw, nil
}

// maxBatch bounds the bytes a batch holds before they are written out.
const maxBatch = 64 << 10

// writeConn is the hijacked connection as the transport writes to it. It
// bounds every write to the socket by writeWait, whichever goroutine writes
// (messages, pings, pongs, close frames): setting a deadline does not
// allocate, unlike the cancellable context the transport would otherwise
// need per write. Between beginBatch and endBatch it also gathers what is
// written, so that the frames of several queued messages (and a large
// message's header and payload) reach the socket in one system call.
type writeConn struct {
	net.Conn
	writeWait time.Duration
	bufs      *sync.Pool

	mu       sync.Mutex
	batching bool
	batch    *[]byte
}

func (c *writeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
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

// endBatch writes what was gathered and stops gathering.
func (c *writeConn) endBatch() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	c.batching = false
	c.bufs.Put(c.batch)
	c.batch = nil
	return err
}

// hijackedWriter replaces Macaron's ResponseWriter once the connection is
// upgraded. Whatever the handler chain returns or writes afterwards (the
// original's example returns 200, "OK"; Macaron's recovery writes 500) is
// discarded instead of reaching the hijacked connection, so net/http logs
// nothing about it.
type hijackedWriter struct {
	header http.Header
}

var _ macaron.ResponseWriter = (*hijackedWriter)(nil)

func (w *hijackedWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

func (w *hijackedWriter) Write([]byte) (int, error) { return 0, http.ErrHijacked }

func (w *hijackedWriter) WriteHeader(int) {}

func (w *hijackedWriter) Flush() {}

func (w *hijackedWriter) Push(string, *http.PushOptions) error { return http.ErrNotSupported }

// Status reports 101, the status the upgrade was answered with.
func (w *hijackedWriter) Status() int { return http.StatusSwitchingProtocols }

// Written reports true: the response was the upgrade.
func (w *hijackedWriter) Written() bool { return true }

func (w *hijackedWriter) Size() int { return 0 }

func (w *hijackedWriter) Before(macaron.BeforeFunc) {}
