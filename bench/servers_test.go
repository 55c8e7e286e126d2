package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	"github.com/go-macaron/sockets"
	"github.com/go-macaron/sockets/wschan"
	"github.com/go-macaron/sockets/wsprom"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/olahol/melody"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/macaron.v1"
)

// server is one contender, listening on loopback.
type server struct {
	addr string
	path string
	// open counts the connections the server holds.
	open *atomic.Int64
	// broadcast sends msg to every open connection (nil where the contender
	// has no broadcast).
	broadcast func(msg []byte)
	close     func()
}

// contender starts a server.
type contender struct {
	name  string
	start func() *server
}

// echoContenders serve an echo of every message.
var echoContenders = []contender{
	{"ours-messages", func() *server {
		return oursServer(sockets.Messages(quiet()), func(b []byte) string { return string(b) })
	}},
	{"ours-bytes", func() *server {
		return oursServer(sockets.ByteSliceMessages(quiet()), func(b []byte) []byte { return b })
	}},
	{"ours-nethttp", func() *server { return oursNetHTTPServer(quiet()) }},
	// The same with the Prometheus collector (wsprom) on its options: what
	// the collector costs an echo and a handshake.
	{"ours-nethttp-prom", func() *server {
		o := quiet()
		prometheus.NewRegistry().MustRegister(wsprom.New(wsprom.Config{Options: []*wschan.Options{o}}))
		return oursNetHTTPServer(o)
	}},
	{"coder", coderServer},
	{"gorilla", gorillaServer},
	{"melody", melodyServer},
	{"gws", gwsServer},
	{"tcp", tcpServer},
}

// quiet are the options every contender of ours runs with: no logging.
func quiet() *sockets.Options { return &sockets.Options{SkipLogging: true} }

// httpServer serves h on loopback.
func httpServer(h http.Handler, open *atomic.Int64, broadcast func([]byte)) *server {
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Start()
	return &server{addr: strings.TrimPrefix(ts.URL, "http://"), path: "/ws", open: open, broadcast: broadcast, close: ts.Close}
}

// registry holds a contender's open connections for broadcast.
type registry[T comparable] struct {
	mu    sync.Mutex
	conns map[T]struct{}
	open  atomic.Int64
}

func newRegistry[T comparable]() *registry[T] { return &registry[T]{conns: make(map[T]struct{})} }

func (r *registry[T]) add(c T) {
	r.mu.Lock()
	r.conns[c] = struct{}{}
	r.mu.Unlock()
	r.open.Add(1)
}

func (r *registry[T]) remove(c T) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	r.open.Add(-1)
}

func (r *registry[T]) each(f func(T)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		f(c)
	}
}

// oursServer is this package's middleware mw behind Macaron, its handler
// echoing values of type T. fromWire makes a broadcast value from bytes; nil
// leaves the server without broadcast.
func oursServer[T any](mw macaron.Handler, fromWire func([]byte) T) *server {
	reg := newRegistry[chan<- T]()
	m := macaron.New()
	m.Get("/ws", mw, func(in <-chan T, out chan<- T, done <-chan bool) {
		reg.add(out)
		defer reg.remove(out)
		for {
			select {
			case v := <-in:
				out <- v
			case <-done:
				return
			}
		}
	})
	var broadcast func([]byte)
	if fromWire != nil {
		broadcast = func(msg []byte) {
			v := fromWire(msg)
			reg.each(func(out chan<- T) { out <- v })
		}
	}
	return httpServer(m, &reg.open, broadcast)
}

// oursNetHTTPServer is this package's net/http front (Handler[string]) on a
// ServeMux, with no Macaron: the difference to ours-messages is what
// Macaron's routing, context and injection cost.
func oursNetHTTPServer(o *sockets.Options) *server {
	reg := newRegistry[chan<- string]()
	mux := http.NewServeMux()
	mux.Handle("/ws", wschan.Handler(func(c *wschan.Conn[string]) {
		reg.add(c.Sender)
		defer reg.remove(c.Sender)
		for {
			select {
			case v := <-c.Receiver:
				c.Sender <- v
			case <-c.Done:
				return
			}
		}
	}, o))
	return httpServer(mux, &reg.open, func(msg []byte) {
		v := string(msg)
		reg.each(func(out chan<- string) { out <- v })
	})
}

// coderServer is a raw coder/websocket echo: our transport's floor.
func coderServer() *server {
	reg := newRegistry[*websocket.Conn]()
	return httpServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { coderEcho(w, r, reg) }),
		&reg.open, coderBroadcast(reg))
}

// coderMacaronServer is raw coder/websocket's echo inside a Macaron route,
// as a Macaron application that used coder itself would serve it: against
// coderServer it shows what Macaron's routing and per-request context cost
// any WebSocket served through Macaron, whatever the library.
func coderMacaronServer() *server {
	reg := newRegistry[*websocket.Conn]()
	m := macaron.New()
	m.Get("/ws", func(c *macaron.Context) { coderEcho(c.Resp, c.Req.Request, reg) })
	return httpServer(m, &reg.open, coderBroadcast(reg))
}

// coderEcho accepts a raw coder/websocket connection and echoes it until
// it ends.
func coderEcho(w http.ResponseWriter, r *http.Request, reg *registry[*websocket.Conn]) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	reg.add(c)
	defer reg.remove(c)
	defer c.CloseNow()
	ctx := context.Background()
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, p); err != nil {
			return
		}
	}
}

// coderBroadcast writes a message to every connection of reg.
func coderBroadcast(reg *registry[*websocket.Conn]) func([]byte) {
	return func(msg []byte) {
		reg.each(func(c *websocket.Conn) { _ = c.Write(context.Background(), websocket.MessageText, msg) })
	}
}

// coderJSONServer is raw coder/websocket plus encoding/json, echoing Doc.
func coderJSONServer() *server { return coderJSONServerOf[Doc]() }

// coderJSONServerOf is coderJSONServer for documents of type T.
func coderJSONServerOf[T any]() *server {
	var open atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		c.SetReadLimit(1 << 20)
		open.Add(1)
		defer open.Add(-1)
		defer c.CloseNow()
		ctx := context.Background()
		for {
			_, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			var d T
			if err := json.Unmarshal(p, &d); err != nil {
				return
			}
			out, _ := json.Marshal(&d)
			if err := c.Write(ctx, websocket.MessageText, out); err != nil {
				return
			}
		}
	})
	return httpServer(h, &open, nil)
}

// gorillaConn serialises a gorilla connection's writers.
type gorillaConn struct {
	mu sync.Mutex
	c  *gorilla.Conn
}

// gorillaServer is a raw gorilla/websocket echo: the original's transport.
func gorillaServer() *server {
	reg := newRegistry[*gorillaConn]()
	up := gorilla.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		gc := &gorillaConn{c: c}
		reg.add(gc)
		defer reg.remove(gc)
		defer c.Close()
		for {
			typ, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			gc.mu.Lock()
			err = c.WriteMessage(typ, p)
			gc.mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	return httpServer(h, &reg.open, func(msg []byte) {
		reg.each(func(gc *gorillaConn) {
			gc.mu.Lock()
			_ = gc.c.WriteMessage(gorilla.TextMessage, msg)
			gc.mu.Unlock()
		})
	})
}

// melodyServer is olahol/melody echoing.
func melodyServer() *server {
	var open atomic.Int64
	m := melody.New()
	m.Config.MaxMessageSize = 1 << 20
	m.Config.MessageBufferSize = 256
	m.HandleConnect(func(*melody.Session) { open.Add(1) })
	m.HandleDisconnect(func(*melody.Session) { open.Add(-1) })
	m.HandleMessage(func(s *melody.Session, p []byte) { _ = s.Write(p) })
	m.HandleMessageBinary(func(s *melody.Session, p []byte) { _ = s.WriteBinary(p) })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = m.HandleRequest(w, r) })
	s := httpServer(h, &open, func(msg []byte) { _ = m.Broadcast(msg) })
	inner := s.close
	s.close = func() {
		_ = m.Close()
		inner()
	}
	return s
}

// gwsHandler is lxzan/gws's event handler, echoing.
type gwsHandler struct {
	gws.BuiltinEventHandler
	reg *registry[*gws.Conn]
}

func (h *gwsHandler) OnOpen(c *gws.Conn)             { h.reg.add(c) }
func (h *gwsHandler) OnClose(c *gws.Conn, err error) { h.reg.remove(c) }
func (h *gwsHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	_ = c.WriteMessage(m.Opcode, m.Bytes())
	_ = m.Close()
}

// gwsServer is lxzan/gws, the fastest Go WebSocket library, echoing.
func gwsServer() *server {
	reg := newRegistry[*gws.Conn]()
	up := gws.NewUpgrader(&gwsHandler{reg: reg}, &gws.ServerOption{ReadMaxPayloadSize: 1 << 20})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	})
	return httpServer(h, &reg.open, func(msg []byte) {
		b := gws.NewBroadcaster(gws.OpcodeText, msg)
		reg.each(func(c *gws.Conn) { _ = b.Broadcast(c) })
		_ = b.Close()
	})
}

// tcpServer answers the handshake, then echoes raw bytes: the physical floor.
func tcpServer() *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	reg := newRegistry[net.Conn]()
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\n\r\n"); err != nil {
					return
				}
				reg.add(c)
				defer reg.remove(c)
				_, _ = io.Copy(c, br)
			}()
		}
	}()
	return &server{addr: ln.Addr().String(), path: "/", open: &reg.open,
		broadcast: func(msg []byte) {
			frame := appendFrame(nil, 0x1, msg, false)
			reg.each(func(c net.Conn) { _, _ = c.Write(frame) })
		},
		close: func() {
			ln.Close()
			reg.each(func(c net.Conn) { c.Close() })
			wg.Wait()
		}}
}

// Doc is the JSON benchmark's value.
type Doc struct {
	ID    int      `json:"id"`
	Name  string   `json:"name"`
	Tags  []string `json:"tags"`
	Items []Doc    `json:"items,omitempty"`
}

// TextDoc is a document of one text field, as a chat message is.
type TextDoc struct {
	Text string `json:"text"`
}

// textDoc is a TextDoc of about 16 KiB of text.
func textDoc() TextDoc {
	return TextDoc{Text: strings.Repeat("All work and no play makes Jack a dull boy. ", 16<<10/44)}
}

// smallDoc and bigDoc are the JSON payloads, about 64 bytes and 16 KiB.
func smallDoc() Doc { return Doc{ID: 1, Name: "small", Tags: []string{"a", "b"}} }

func bigDoc() Doc {
	d := Doc{ID: 0, Name: "big"}
	for i := 0; i < 230; i++ {
		d.Items = append(d.Items, Doc{ID: i, Name: "item", Tags: []string{"x", "y"}})
	}
	return d
}

// dialAll opens n clients to s.
func dialAll(tb testing.TB, s *server, n int) []*wsClient {
	tb.Helper()
	cs := make([]*wsClient, n)
	for i := range cs {
		c, err := dialWS(s.addr, s.path)
		if err != nil {
			tb.Fatal(err)
		}
		cs[i] = c
	}
	return cs
}
