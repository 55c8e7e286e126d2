package wschan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// DialOptions configures Dial. The zero value dials with the default
// Options, no extra header, a net.Dialer and, for wss:// URLs, the
// system's roots.
type DialOptions struct {
	// Options are the connection's, as a server's are: channel buffers,
	// MaxMessageSize (what this end accepts), the timings (pings every
	// PingPeriod, the server taken for dead after PongWait of silence,
	// WriteWait), compression, the JSON codec, logging and Trace.
	// Subprotocols are offered, by preference. AllowedOrigin and ParkAfter
	// do not apply to a client. Nil: the defaults.
	Options *Options
	// Header is sent with the handshake: an Origin, an Authorization, a
	// cookie.
	Header http.Header
	// DialContext connects to the server's host:port (through a proxy,
	// say). Default: a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is used for wss:// URLs. Default: the system's roots, the
	// URL's host as the server name.
	TLSConfig *tls.Config
}

// Dial connects to a WebSocket server at url (ws:// or wss://) and returns
// the same Conn a handler gets, seen from the client's end: its Receiver
// carries what the server sends, its Sender takes what to send (strings as
// text frames, byte slices as binary, anything else as JSON), and its
// Error, Disconnect and Done channels and Connection behave as on the
// server, with the same guarantees (every close answered, the cause on
// Error before Done, what was queued on Sender written before a normal
// close, pings and silence detection, no goroutine left once Done has been
// read). ctx bounds the handshake and the connection: cancelling it closes
// the connection with 1001 (going away).
//
// The response is the server's answer to the handshake: on a refusal (a
// status other than 101) it is returned with an error, its body readable.
func Dial[T any](ctx context.Context, url string, opts *DialOptions) (*Conn[T], *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	var options []*Options
	if opts.Options != nil {
		options = append(options, opts.Options)
	}
	o := withDefaults(options)
	e := newEndpoint(o, &writersOf[T]{})
	e.parkAfter = 0 // a client's loops keep their goroutines
	t := &dialTransport{dial: opts.DialContext, tlsConfig: opts.TLSConfig, writeWait: o.WriteWait, bufs: &e.bufs}
	if t.dial == nil {
		t.dial = (&net.Dialer{}).DialContext
	}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:           &http.Client{Transport: t, CheckRedirect: noRedirects},
		HTTPHeader:           opts.Header,
		Subprotocols:         o.Subprotocols,
		CompressionMode:      o.compressionMode(),
		CompressionThreshold: o.CompressionThreshold,
	})
	if err != nil {
		if t.conn != nil {
			_ = t.conn.Close()
		}
		return nil, resp, fmt.Errorf("sockets: dial %s: %w", url, err)
	}
	conn := newConnection(o, resp.Request)
	conn.subprotocol = ws.Subprotocol()
	conn.compressed = resp.Header.Get("Sec-WebSocket-Extensions") != ""
	p := newPump(e, conn, ws, t.conn)
	send, recv := chans[T](e, p)
	c := &Conn[T]{Receiver: recv, Sender: send, Error: p.conn.Error, Disconnect: p.conn.Disconnect, Done: p.conn.Done,
		Connection: conn, Request: resp.Request}
	if o.Trace != nil && o.Trace.Upgraded != nil {
		o.Trace.Upgraded(conn)
	}
	p.conn.stats.pending = p.box.lens
	// ctx, and Options.Context when set, bound the connection: their end
	// ends it with 1001.
	end := func() { p.finish(shutdownEnding()) }
	stop := context.AfterFunc(ctx, end)
	stopOpts := func() bool { return false }
	if o.Context != nil {
		stopOpts = context.AfterFunc(o.Context, end)
	}
	p.run()
	// The client has no handler that returns: done and the error channel
	// close once the application has taken done's value (or DoneGrace
	// after it fired), as for a handler that never returns.
	go func() {
		p.wait() // the connection has ended: done has fired
		awaitTaken(p.conn.Done, nil)
		close(p.conn.Done)
		close(p.conn.Error)
		stop()
		stopOpts()
		if o.Trace != nil && o.Trace.Ended != nil {
			o.Trace.Ended(conn)
		}
	}()
	return c, resp, nil
}

// noRedirects refuses to follow a redirect of the handshake: the response
// is Dial's error.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// dialTransport makes the handshake's one request over a connection of its
// own, and hands the transport the connection as a writeConn, as the
// server's hijack does: what follows the 101 (already read past it
// included) passes the close guard, and every write is bounded and noted.
type dialTransport struct {
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	tlsConfig *tls.Config
	writeWait time.Duration
	bufs      *sync.Pool

	conn *writeConn // the connection, as the transport reads and writes it
}

// RoundTrip dials, sends req and reads the response; on a 101 its body is
// the connection.
func (t *dialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	host := req.URL.Host
	if req.URL.Port() == "" {
		port := "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(req.URL.Hostname(), port)
	}
	raw, err := t.dial(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	// The context bounds the handshake: it unblocks a read or a write.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = raw.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if req.URL.Scheme == "https" {
		cfg := t.tlsConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = req.URL.Hostname()
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		raw = tc
	}
	if err := req.Write(raw); err != nil {
		return fail(err)
	}
	br := bufio.NewReader(raw)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(err)
	}
	if !stop() {
		return fail(ctx.Err())
	}
	_ = raw.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = &closingBody{ReadCloser: resp.Body, conn: raw}
		return resp, nil
	}
	buffered, _ := br.Peek(br.Buffered())
	conn := &writeConn{Conn: raw, writeWait: t.writeWait, bufs: t.bufs, prefix: bytes.Clone(buffered), tracking: true}
	t.conn = conn
	resp.Body = conn
	return resp, nil
}

// closingBody closes the connection with the body of a refusal.
type closingBody struct {
	io.ReadCloser
	conn net.Conn
}

func (b *closingBody) Close() error {
	err := b.ReadCloser.Close()
	return errors.Join(err, b.conn.Close())
}
