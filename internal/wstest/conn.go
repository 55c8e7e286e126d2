package wstest

import (
	"net"
	"testing"
	"time"
)

// Listener passes each connection it accepts through Wrap, as a wrapping
// listener (netutil.LimitListener, a PROXY-protocol listener) does.
type Listener struct {
	net.Listener
	Wrap func(net.Conn) net.Conn
}

// Accept accepts a connection and returns it wrapped.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.Wrap(c), nil
}

// NetConnWrapper hides a socket behind methods of its own and returns it
// from NetConn, as crypto/tls and PROXY-protocol wrappers do.
type NetConnWrapper struct{ Inner net.Conn }

func (c *NetConnWrapper) NetConn() net.Conn                  { return c.Inner }
func (c *NetConnWrapper) Read(p []byte) (int, error)         { return c.Inner.Read(p) }
func (c *NetConnWrapper) Write(p []byte) (int, error)        { return c.Inner.Write(p) }
func (c *NetConnWrapper) Close() error                       { return c.Inner.Close() }
func (c *NetConnWrapper) LocalAddr() net.Addr                { return c.Inner.LocalAddr() }
func (c *NetConnWrapper) RemoteAddr() net.Addr               { return c.Inner.RemoteAddr() }
func (c *NetConnWrapper) SetDeadline(t time.Time) error      { return c.Inner.SetDeadline(t) }
func (c *NetConnWrapper) SetReadDeadline(t time.Time) error  { return c.Inner.SetReadDeadline(t) }
func (c *NetConnWrapper) SetWriteDeadline(t time.Time) error { return c.Inner.SetWriteDeadline(t) }

// TCPPair returns both ends of a loopback TCP connection, closed when the
// test ends.
func TCPPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if client, err = net.Dial("tcp", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}
