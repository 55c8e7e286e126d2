package sockets

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"time"

	"gopkg.in/macaron.v1"
)

// upgradeWriter is the ResponseWriter handed to the transport's Accept. It
// keeps hold of the hijacked connection, so that the middleware can bound the
// close handshake, and routes every write through a deadlineConn.
type upgradeWriter struct {
	http.ResponseWriter
	writeWait time.Duration
	raw       net.Conn
}

// Hijack takes over the connection. The transport reads through the returned
// conn (after the bytes already buffered) and writes through the returned
// bufio.Writer, both of which go through the deadlineConn.
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
	conn := &deadlineConn{Conn: raw, writeWait: w.writeWait}
	if err := brw.Writer.Flush(); err != nil {
		_ = raw.Close()
		return nil, nil, err
	}
	brw.Writer.Reset(conn)
	return conn, brw, nil
}

// deadlineConn bounds every write to the socket by writeWait, whichever
// goroutine writes (messages, pings, pongs, close frames). Setting a deadline
// does not allocate, unlike the cancellable context the transport would
// otherwise need per write.
type deadlineConn struct {
	net.Conn
	writeWait time.Duration
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeWait)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
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
