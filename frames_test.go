package sockets

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-macaron/sockets/internal/wstest"
)

// Opcodes of RFC 6455 section 5.2.
const (
	opContinuation = wstest.OpContinuation
	opText         = wstest.OpText
	opBinary       = wstest.OpBinary
	opClose        = wstest.OpClose
	opPing         = wstest.OpPing
	opPong         = wstest.OpPong
)

// frame is one frame as a raw client reads it off the wire.
type frame struct {
	fin     bool
	rsv     byte // the three reserved bits, shifted down
	opcode  byte
	masked  bool
	payload []byte
}

// String describes the frame for failure messages.
func (f frame) String() string {
	p := f.payload
	if len(p) > 16 {
		p = p[:16]
	}
	return fmt.Sprintf("frame{fin %v, opcode %#x, %d bytes %q}", f.fin, f.opcode, len(f.payload), p)
}

// closeCode returns the code of a close frame (1005 for an empty payload)
// and its reason.
func (f frame) closeCode() (int, string) {
	if len(f.payload) < 2 {
		return 1005, ""
	}
	return int(binary.BigEndian.Uint16(f.payload)), string(f.payload[2:])
}

// maxTestFrame bounds the payload a raw client accepts, so a broken server
// cannot make a test allocate without end.
const maxTestFrame = 1 << 24

// readFrame reads one frame from r.
func readFrame(r *bufio.Reader) (frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	f := frame{fin: h[0]&0x80 != 0, rsv: (h[0] >> 4) & 0x7, opcode: h[0] & 0xF, masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > maxTestFrame {
		return f, fmt.Errorf("frame of %d bytes", n)
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, err
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// rawClient speaks RFC 6455 frame by frame over a real socket, so a test
// can send what no well-behaved client sends and see every frame the server
// writes, control frames included.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

// rawDial opens a WebSocket with a raw handshake and the server's own
// origin.
func (ts *testServer) rawDial() *rawClient {
	ts.t.Helper()
	r := ts.raw("GET", "", upgradeHeaders("http://"+ts.host), nil)
	if r.status != 101 {
		ts.t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	return &rawClient{t: ts.t, conn: r.conn, br: r.br}
}

// send writes bytes (one or more frames, possibly partial) in one write.
func (c *rawClient) send(b ...[]byte) {
	c.t.Helper()
	var all []byte
	for _, p := range b {
		all = append(all, p...)
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
	if _, err := c.conn.Write(all); err != nil {
		c.t.Fatalf("raw write: %v", err)
	}
}

// next reads the next frame within the test bound.
func (c *rawClient) next() (frame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	return readFrame(c.br)
}

// closeFrame builds a masked client close frame with code and reason.
func closeFrame(code int, reason string) []byte { return wstest.CloseFrame(code, reason) }

// untilClose reads frames until the server's close frame and returns the
// data frames before it and the close frame. It fails the test if the
// connection ends without one, and then checks that the server closes
// TCP after it.
func (c *rawClient) untilClose() (data []frame, closing frame) {
	c.t.Helper()
	data, closing = c.framesUntilClose()
	c.expectEOF()
	return data, closing
}

// framesUntilClose reads frames until the server's close frame and returns
// the data frames before it and the close frame, without waiting for the
// end of TCP (untilClose does), so that the client can answer first.
func (c *rawClient) framesUntilClose() (data []frame, closing frame) {
	c.t.Helper()
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("no close frame from the server after %d data frames: %v", len(data), err)
		}
		switch f.opcode {
		case opClose:
			return data, f
		case opPing, opPong:
		default:
			data = append(data, f)
		}
	}
}

// expectEOF checks that the server closes the TCP connection and sends
// nothing more.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	f, err := c.next()
	var ne net.Error
	switch {
	case err == nil:
		c.t.Fatalf("after the close frame the server sent %v", f)
	case errors.As(err, &ne) && ne.Timeout():
		c.t.Fatalf("the server did not close TCP after its close frame")
	}
}
