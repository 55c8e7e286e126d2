package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// wsClient is the one client every contender is measured with: a minimal
// WebSocket client that allocates nothing per message, so that the
// process-wide B/op and allocs/op of a benchmark are the server's.
type wsClient struct {
	conn  net.Conn
	br    *bufio.Reader
	frame []byte // the message to send, framed and masked
	hdr   [14]byte
}

// dialWS opens a WebSocket to addr (host:port) at path, with the server's own
// Origin, and checks for the 101.
func dialWS(addr, path string) (*wsClient, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nOrigin: http://" + addr +
		"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 4096)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		conn.Close()
		return nil, fmt.Errorf("handshake with %s%s: %q %v", addr, path, status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	return &wsClient{conn: conn, br: br}, nil
}

// setMessage frames payload once, as a masked client frame with a zero mask
// key (masking with zero leaves the payload as it is).
func (c *wsClient) setMessage(opcode byte, payload []byte) {
	c.frame = appendFrame(c.frame[:0], opcode, payload, true)
}

// appendFrame appends one final frame to dst.
func appendFrame(dst []byte, opcode byte, payload []byte, masked bool) []byte {
	var maskBit byte
	if masked {
		maskBit = 0x80
	}
	dst = append(dst, 0x80|opcode)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, maskBit|byte(n))
	case n < 1<<16:
		dst = append(dst, maskBit|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, maskBit|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if masked {
		dst = append(dst, 0, 0, 0, 0)
	}
	return append(dst, payload...)
}

// send writes the message.
func (c *wsClient) send() error {
	_, err := c.conn.Write(c.frame)
	return err
}

// recv reads one data frame and discards its payload, returning its length.
// It accepts masked frames too, so that a raw TCP echo of the client's own
// frames can be read back.
func (c *wsClient) recv() (int, error) {
	for {
		h := c.hdr[:2]
		if _, err := io.ReadFull(c.br, h); err != nil {
			return 0, err
		}
		opcode, n := h[0]&0x0f, int(h[1]&0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.br, c.hdr[2:4]); err != nil {
				return 0, err
			}
			n = int(binary.BigEndian.Uint16(c.hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(c.br, c.hdr[2:10]); err != nil {
				return 0, err
			}
			n = int(binary.BigEndian.Uint64(c.hdr[2:10]))
		}
		if h[1]&0x80 != 0 {
			n += 4
		}
		if _, err := c.br.Discard(n); err != nil {
			return 0, err
		}
		switch opcode {
		case 0x1, 0x2:
			return n, nil
		case 0x8:
			return 0, errors.New("closed by the server")
		}
		// Pings and pongs: none are expected with the default timings.
	}
}

func (c *wsClient) close() { _ = c.conn.Close() }

// reset closes the connection with a TCP reset (SO_LINGER 0), so that it
// leaves no socket in TIME_WAIT: the handshake benchmarks open tens of
// thousands of connections a minute, and as many TIME_WAIT sockets fill the
// ephemeral ports and make the kernel's work per connection, hence the
// server's CPU, depend on how many ran before.
func (c *wsClient) reset() {
	if tc, ok := c.conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.conn.Close()
}
