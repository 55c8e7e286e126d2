package wschan

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wait bounds every blocking step of these tests.
const dialWait = 10 * time.Second

// serveWS serves h at / on loopback, and returns its ws:// URL and the
// header a client needs to be let in.
func serveWS(t *testing.T, h http.Handler) (string, *DialOptions) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/", &DialOptions{Header: http.Header{"Origin": {srv.URL}}}
}

// echoServer echoes every message of kind T until the connection ends.
func echoServer[T any](o *Options) http.Handler {
	return Handler(func(c *Conn[T]) {
		for {
			select {
			case m := <-c.Receiver:
				c.Sender <- m
			case <-c.Done:
				return
			}
		}
	}, o)
}

// recvWithin receives one value from ch within dialWait.
func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(dialWait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// endOf waits for done and returns the cause the error channel carried
// (nil for a normal end), checking that both close.
func endOf[T any](t *testing.T, c *Conn[T]) error {
	t.Helper()
	return ended(t, c.Done, c.Error)
}

// ended waits for done's true, then returns what the error channel
// carried before it closed, failing if done's first value is false or the
// error channel stays open.
func ended(t *testing.T, done <-chan bool, errc <-chan error) error {
	t.Helper()
	if !recvWithin(t, done, "done") {
		t.Fatal("done's first value is false")
	}
	var cause error
	for {
		select {
		case err, ok := <-errc:
			if !ok {
				return cause
			}
			cause = err
		case <-time.After(dialWait):
			t.Fatal("the error channel stays open after done was taken")
		}
	}
}

// TestDialKinds: strings, byte slices and JSON values round-trip through a
// dialled Conn, as the server's kinds do.
func TestDialKinds(t *testing.T) {
	type msg struct {
		A string `json:"a"`
		N int    `json:"n"`
	}
	ctx := context.Background()
	url, opts := serveWS(t, echoServer[string](&Options{SkipLogging: true}))
	text, _, err := Dial[string](ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	text.Sender <- "héllo"
	if got := recvWithin(t, text.Receiver, "the echo"); got != "héllo" {
		t.Fatalf("got %q", got)
	}
	close(text.Sender)
	if err := endOf(t, text); err != nil {
		t.Fatalf("a normal close put %v on the error channel", err)
	}

	url, opts = serveWS(t, echoServer[[]byte](&Options{SkipLogging: true}))
	bin, _, err := Dial[[]byte](ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	bin.Sender <- []byte{0, 1, 0xff}
	if got := recvWithin(t, bin.Receiver, "the echo"); string(got) != "\x00\x01\xff" {
		t.Fatalf("got %q", got)
	}
	close(bin.Sender)
	_ = endOf(t, bin)

	url, opts = serveWS(t, echoServer[*msg](&Options{SkipLogging: true}))
	js, _, err := Dial[*msg](ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	js.Sender <- &msg{A: "x", N: 7}
	if got := recvWithin(t, js.Receiver, "the echo"); got.A != "x" || got.N != 7 {
		t.Fatalf("got %+v", got)
	}
	close(js.Sender)
	_ = endOf(t, js)
}

// TestDialEndings: each way a dialled connection ends, with what the
// client's channels and close record say.
func TestDialEndings(t *testing.T) {
	ctx := context.Background()
	t.Run("the server closes with 4000", func(t *testing.T) {
		url, opts := serveWS(t, Handler(func(c *Conn[string]) {
			c.Disconnect <- 4000
			<-c.Done
		}, &Options{SkipLogging: true}))
		c, _, err := Dial[string](ctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		var ce websocket.CloseError
		if err := endOf(t, c); !errors.As(err, &ce) || ce.Code != 4000 {
			t.Fatalf("cause %v, want the server's 4000", err)
		}
		if r, _ := c.Connection.CloseRecord(); r.By != EndedByPeer || r.ReceivedCode != 4000 || r.SentCode != 4000 || !r.Clean {
			t.Fatalf("record %+v", r)
		}
	})
	t.Run("the server drops TCP", func(t *testing.T) {
		url, opts := serveWS(t, Handler(func(c *Conn[string]) {
			c.Disconnect <- 1006
			<-c.Done
		}, &Options{SkipLogging: true}))
		c, _, err := Dial[string](ctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := endOf(t, c); err == nil {
			t.Fatal("a dropped connection put nothing on the error channel")
		}
		if r, _ := c.Connection.CloseRecord(); r.By != EndedByNetwork || r.SentCode != 0 {
			t.Fatalf("record %+v", r)
		}
	})
	t.Run("nothing queued is lost before a normal close", func(t *testing.T) {
		got := make(chan int, 1)
		url, opts := serveWS(t, Handler(func(c *Conn[string]) {
			n := 0
			for {
				select {
				case <-c.Receiver:
					n++
				case <-c.Done:
					for len(c.Receiver) > 0 {
						<-c.Receiver
						n++
					}
					got <- n
					return
				}
			}
		}, &Options{SkipLogging: true}))
		o := &Options{SkipLogging: true, SendChannelBuffer: 200}
		opts.Options = o
		c, _, err := Dial[string](ctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			c.Sender <- fmt.Sprint(i)
		}
		close(c.Sender)
		if err := endOf(t, c); err != nil {
			t.Fatal(err)
		}
		if n := recvWithin(t, got, "the server's count"); n != 200 {
			t.Fatalf("the server got %d of 200", n)
		}
	})
	t.Run("a message over the client's limit", func(t *testing.T) {
		url, opts := serveWS(t, Handler(func(c *Conn[string]) {
			c.Sender <- strings.Repeat("x", 100)
			<-c.Done
		}, &Options{SkipLogging: true}))
		opts.Options = &Options{SkipLogging: true, MaxMessageSize: 64}
		c, _, err := Dial[string](ctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := endOf(t, c); !errors.Is(err, websocket.ErrMessageTooBig) {
			t.Fatalf("cause %v, want the size error", err)
		}
		if r, _ := c.Connection.CloseRecord(); r.SentCode != 1009 || !strings.HasPrefix(r.SentReason, "read limited at 65") {
			t.Fatalf("record %+v, want 1009 with the transport's reason", r)
		}
	})
	t.Run("a silent server", func(t *testing.T) {
		url, opts := serveWS(t, silentServer(t))
		opts.Options = &Options{SkipLogging: true, PingPeriod: 50 * time.Millisecond, PongWait: 300 * time.Millisecond}
		c, _, err := Dial[string](ctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := endOf(t, c); !errors.Is(err, ErrPongTimeout) {
			t.Fatalf("cause %v, want ErrPongTimeout", err)
		}
	})
	t.Run("the context is cancelled", func(t *testing.T) {
		url, opts := serveWS(t, echoServer[string](&Options{SkipLogging: true}))
		cctx, cancel := context.WithCancel(ctx)
		c, _, err := Dial[string](cctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		_ = endOf(t, c)
		if r, _ := c.Connection.CloseRecord(); r.SentCode != 1001 {
			t.Fatalf("record %+v, want 1001", r)
		}
	})
}

// silentServer completes the handshake and then neither reads nor writes,
// as a server that hangs does.
func silentServer(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, ok := hijack101(t, w, r)
		if !ok {
			return
		}
		_ = brw.Flush()
		// Hold the connection until the client gives up on it.
		_, _ = bufio.NewReader(conn).Discard(1 << 30)
		_ = conn.Close()
	})
}

// TestDialRefused: a handshake answered with another status is Dial's
// error, with the response; the connection is closed.
func TestDialRefused(t *testing.T) {
	url, _ := serveWS(t, echoServer[string](&Options{SkipLogging: true}))
	_, resp, err := Dial[string](context.Background(), url, nil) // no Origin: 403
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("err %v, response %v, want a 403", err, resp)
	}
}

// TestDialSubprotocolAndCompression: what the server chose is reported.
func TestDialSubprotocolAndCompression(t *testing.T) {
	url, opts := serveWS(t, echoServer[string](&Options{SkipLogging: true, Subprotocols: []string{"chat.v1"}, Compression: true}))
	opts.Options = &Options{SkipLogging: true, Subprotocols: []string{"chat.v2", "chat.v1"}, Compression: true}
	c, _, err := Dial[string](context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Connection.Subprotocol() != "chat.v1" || !c.Connection.Compressed() {
		t.Fatalf("subprotocol %q, compressed %v", c.Connection.Subprotocol(), c.Connection.Compressed())
	}
	big := strings.Repeat("compressible ", 1000)
	c.Sender <- big
	if got := recvWithin(t, c.Receiver, "the echo"); got != big {
		t.Fatal("the echo differs")
	}
	close(c.Sender)
	_ = endOf(t, c)
}

// acceptKey is RFC 6455's Sec-WebSocket-Accept for key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// TestDialServerDiesMidMessage: a server that sends half a frame and dies
// ends the client's connection with the read error on Error, by the
// network, nothing of the half message delivered.
func TestDialServerDiesMidMessage(t *testing.T) {
	url, opts := serveWS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, ok := hijack101(t, w, r)
		if !ok {
			return
		}
		brw.Write([]byte{0x81, 10, 'h', 'a', 'l', 'f'}) // 10 bytes announced, 4 sent
		_ = brw.Flush()
		_ = conn.Close()
	}))
	c, _, err := Dial[string](context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := endOf(t, c); err == nil {
		t.Fatal("a server dead mid-message put nothing on the error channel")
	}
	if len(c.Receiver) != 0 {
		t.Fatalf("%d values delivered of a message never whole", len(c.Receiver))
	}
	if r, _ := c.Connection.CloseRecord(); r.By != EndedByNetwork {
		t.Fatalf("record %+v, want ended by the network", r)
	}
}

// idleProxy forwards TCP to target and drops a connection that carries no
// byte either way for idle, as load balancers do.
func idleProxy(t *testing.T, target string, idle time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			var last atomic.Int64
			last.Store(time.Now().UnixNano())
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					_ = src.SetReadDeadline(time.Now().Add(idle / 4))
					n, err := src.Read(buf)
					if n > 0 {
						last.Store(time.Now().UnixNano())
						if _, err := dst.Write(buf[:n]); err != nil {
							break
						}
					}
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						if time.Since(time.Unix(0, last.Load())) < idle {
							continue
						}
					}
					if err != nil {
						break
					}
				}
				_ = in.Close()
				_ = out.Close()
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return ln.Addr().String()
}

// TestDialBehindAnIdleProxy: pings more frequent than a proxy's idle
// timeout keep a quiet connection up through it; without them the proxy
// drops it, the client sees the cause, and Redial connects again.
func TestDialBehindAnIdleProxy(t *testing.T) {
	srv := httptest.NewServer(echoServer[string](&Options{SkipLogging: true, PingPeriod: time.Hour, PongWait: 2 * time.Hour}))
	defer srv.Close()
	// The idle timeout is 30 pings long, so that only a client that does
	// not ping is dropped, however slow the machine.
	proxy := idleProxy(t, strings.TrimPrefix(srv.URL, "http://"), 1500*time.Millisecond)
	url := "ws://" + proxy + "/"
	header := http.Header{"Origin": {"http://" + proxy}}

	pinging := &DialOptions{Header: header, Options: &Options{SkipLogging: true, PingPeriod: 50 * time.Millisecond, PongWait: time.Second}}
	c, _, err := Dial[string](context.Background(), url, pinging)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done:
		t.Fatal("a pinging client was dropped by the proxy")
	case <-time.After(3 * time.Second): // two idle timeouts of quiet, bounded
	}
	c.Sender <- "still here"
	if got := recvWithin(t, c.Receiver, "the echo"); got != "still here" {
		t.Fatalf("got %q", got)
	}
	close(c.Sender)
	_ = endOf(t, c)

	quiet := &DialOptions{Header: header, Options: &Options{SkipLogging: true, PingPeriod: time.Hour, PongWait: 2 * time.Hour}}
	var reconnects atomic.Int64
	policy := fastPolicy()
	policy.Reconnected = func(CloseRecord, int, *http.Response) { reconnects.Add(1) }
	rc, err := Redial[string](context.Background(), url, quiet, policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(dialWait)
	for reconnects.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the proxy never dropped a quiet client, or Redial never came back")
		}
		time.Sleep(10 * time.Millisecond) // polling an outcome, bounded above
	}
	rc.Sender <- "back"
	if got := recvWithin(t, rc.Receiver, "the echo"); got != "back" {
		t.Fatalf("got %q", got)
	}
	close(rc.Sender)
	_ = clientEnd(t, rc)
}

// TestDialTLS: wss:// with the TLSConfig given (here the test server's
// own certificate as the root).
func TestDialTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(echoServer[string](&Options{SkipLogging: true}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake's line
	srv.StartTLS()
	defer srv.Close()
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	url := "wss" + strings.TrimPrefix(srv.URL, "https") + "/"
	c, _, err := Dial[string](context.Background(), url, &DialOptions{Header: http.Header{"Origin": {srv.URL}},
		TLSConfig: cfg, Options: &Options{SkipLogging: true}})
	if err != nil {
		t.Fatal(err)
	}
	c.Sender <- "over TLS"
	if got := recvWithin(t, c.Receiver, "the echo"); got != "over TLS" {
		t.Fatalf("got %q", got)
	}
	close(c.Sender)
	if err := endOf(t, c); err != nil {
		t.Fatal(err)
	}
	// Without the root, the handshake fails: Dial's error.
	if _, _, err := Dial[string](context.Background(), url, &DialOptions{Header: http.Header{"Origin": {srv.URL}}}); err == nil {
		t.Fatal("a certificate nobody trusts was accepted")
	}
}

// hijack101 takes over r's connection and answers its handshake with a
// 101 by hand, for servers that then misbehave.
func hijack101(t *testing.T, w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.ReadWriter, bool) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return nil, nil, false
	}
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		acceptKey(r.Header.Get("Sec-WebSocket-Key")))
	return conn, brw, true
}
