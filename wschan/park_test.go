package wschan

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-macaron/sockets/internal/park"
	"github.com/go-macaron/sockets/internal/wstest"
)

// idleClients opens n WebSocket connections to srv with raw TCP clients
// (no goroutine of their own), returns the server's side of each, and
// closes the clients when the test ends.
func idleClients(t *testing.T, srv *httptest.Server, conns <-chan *Connection, n int) []*Connection {
	t.Helper()
	host := strings.TrimPrefix(srv.URL, "http://")
	var out []*Connection
	for range n {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host, host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake: %v %v", resp, err)
		}
		select {
		case conn := <-conns:
			out = append(out, conn)
		case <-time.After(time.Minute):
			t.Fatal("the handler never ran")
		}
	}
	return out
}

// parkedGoroutines waits until both loops of every connection have parked
// (bounded by a minute) and returns the goroutines the process gained per
// connection since base.
func parkedGoroutines(t *testing.T, conns []*Connection, base int) float64 {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		waiting := 0
		for _, c := range conns {
			if st := c.Stats(); st.ReadParks == 0 || st.WriteParks == 0 {
				waiting++
			}
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			st := conns[0].Stats()
			t.Fatalf("%d of %d connections never parked both loops (the first: %d read parks, %d write parks)",
				waiting, len(conns), st.ReadParks, st.WriteParks)
		}
		time.Sleep(5 * time.Millisecond) // polling the counts, bounded above
	}
	return float64(runtime.NumGoroutine()-base) / float64(len(conns))
}

// parkServer serves idle connections with o, handing each handler's
// connection to the returned channel. The test ends once every handler
// has returned, so that the next one counts no goroutine of this one.
func parkServer(t *testing.T, o *Options, wrap func(net.Conn) net.Conn) (*httptest.Server, chan *Connection) {
	conns := make(chan *Connection, 64)
	var handlers sync.WaitGroup
	srv := httptest.NewUnstartedServer(Handler(func(c *Conn[string]) {
		handlers.Add(1)
		defer handlers.Done()
		conns <- c.Connection
		<-c.Done
	}, o))
	if wrap != nil {
		srv.Listener = wstest.Listener{Listener: srv.Listener, Wrap: wrap}
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		handlers.Wait()
	})
	return srv, conns
}

// embeddingConn has the shape of netutil.LimitListener's connections: the
// socket embedded as a net.Conn.
type embeddingConn struct {
	net.Conn
}

// hidingConn hides the socket and does not return it.
type hidingConn struct{ wstest.NetConnWrapper }

func (*hidingConn) NetConn() {} // not the NetConn() net.Conn the gate looks for

const idleConns = 40

// TestIdleGoroutinesBehindWrappers: behind a listener whose connections
// embed the socket, or return it from NetConn, both loops of an idle
// connection park, leaving about one goroutine per connection (the
// handler's); behind one that hides it, the read loop keeps its goroutine,
// as documented on Options.ParkAfter.
func TestIdleGoroutinesBehindWrappers(t *testing.T) {
	if !park.CanParkReads {
		t.Skip("read loops park only on Linux")
	}
	for _, tc := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"plain", nil},
		{"embedded", func(c net.Conn) net.Conn { return &embeddingConn{Conn: c} }},
		{"NetConn", func(c net.Conn) net.Conn { return &wstest.NetConnWrapper{Inner: c} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, conns := parkServer(t, &Options{SkipLogging: true, ParkAfter: 20 * time.Millisecond, PingPeriod: time.Hour,
				PongWait: time.Hour}, tc.wrap)
			base := runtime.NumGoroutine()
			per := parkedGoroutines(t, idleClients(t, srv, conns, idleConns), base)
			t.Logf("%.2f goroutines per idle connection", per)
			if per > 1.5 {
				t.Fatalf("%.2f goroutines per idle connection, want about 1 (the handler's)", per)
			}
		})
	}
	t.Run("hidden", func(t *testing.T) {
		srv, conns := parkServer(t, &Options{SkipLogging: true, ParkAfter: 20 * time.Millisecond, PingPeriod: time.Hour,
			PongWait: time.Hour}, func(c net.Conn) net.Conn { return &hidingConn{wstest.NetConnWrapper{Inner: c}} })
		cs := idleClients(t, srv, conns, 1)
		for deadline := time.Now().Add(time.Minute); cs[0].Stats().WriteParks == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the write loop never parked")
			}
		}
		if n := cs[0].Stats().ReadParks; n != 0 {
			t.Fatalf("%d read parks behind a wrapper that hides the socket", n)
		}
	})
}

// TestLateWriteLoopParks: a write loop that starts after the connection has
// been idle for ParkAfter (a slow Upgraded hook) parks at once, instead of
// keeping its goroutine until its first ping.
func TestLateWriteLoopParks(t *testing.T) {
	const parkAfter = 20 * time.Millisecond
	slow := &ConnTrace{Upgraded: func(*Connection) {
		time.Sleep(3 * parkAfter) // the scenario: a hook slower than ParkAfter
	}}
	srv, conns := parkServer(t, &Options{SkipLogging: true, ParkAfter: parkAfter, PingPeriod: time.Hour,
		PongWait: time.Hour, Trace: slow}, nil)
	base := runtime.NumGoroutine()
	per := parkedGoroutines(t, idleClients(t, srv, conns, idleConns), base)
	t.Logf("%.2f goroutines per idle connection", per)
	if park.CanParkReads && per > 1.5 {
		t.Fatalf("%.2f goroutines per idle connection, want about 1 (the handler's)", per)
	}
}
