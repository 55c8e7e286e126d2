package sockets

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"

	"github.com/go-macaron/sockets/wschan"
)

// ChatMessage is the JSON type of the tests, as in the original's README.
type ChatMessage struct {
	From string `json:"from"`
	Text string `json:"text"`
}

// Name is a named string type, for JSON(Name("")).
type Name string

// Item is an element type, for JSON([]Item{}).
type Item struct{ ID int }

// typeOf returns the reflect.Type of the value *p points to.
func typeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

// injection is what the handler after the middleware found in its injector:
// the capacity of each present type, -1 for an absent one.
type injection map[reflect.Type]int

// probeInjection connects once with mw and reports, for each type, the
// capacity of the channel injected under it, or -1.
func probeInjection(t *testing.T, mw macaron.Handler, types ...reflect.Type) injection {
	t.Helper()
	found := make(chan injection, 1)
	ts := serve(t, mw, func(c *macaron.Context, done <-chan bool) {
		got := injection{}
		for _, typ := range types {
			if v := c.GetVal(typ); v.IsValid() {
				got[typ] = v.Cap()
			} else {
				got[typ] = -1
			}
		}
		found <- got
		<-done
	})
	c := ts.dial()
	got := recv(t, found, "the injected types")
	_ = c.Close()
	ts.waitFinished()
	return got
}

// checkInjection compares an injection with the expected capacities.
func checkInjection(t *testing.T, got injection, want injection) {
	t.Helper()
	for typ, c := range want {
		if got[typ] != c {
			t.Errorf("%v: capacity %d, want %d (-1: not injected)", typ, got[typ], c)
		}
	}
}

// commonInjection is what every kind injects besides its data channels.
func commonInjection() injection {
	return injection{
		typeOf[<-chan error](): 1, typeOf[chan<- int](): 1, typeOf[<-chan bool](): 3,
		typeOf[chan error](): -1, typeOf[chan bool](): -1, typeOf[chan int](): -1,
		typeOf[<-chan int](): -1, typeOf[chan<- bool](): -1,
	}
}

// keys lists an injection's types.
func (in injection) keys() []reflect.Type {
	var ts []reflect.Type
	for t := range in {
		ts = append(ts, t)
	}
	return ts
}

// merged returns in with more added.
func (in injection) merged(more injection) injection {
	out := injection{}
	for k, v := range in {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func rowMessagesTypes(t *testing.T) {
	want := commonInjection().merged(injection{
		typeOf[<-chan string](): 10, typeOf[chan<- string](): 10, typeOf[chan string](): -1,
	})
	checkInjection(t, probeInjection(t, Messages(testOptions(&logBuffer{})), want.keys()...), want)
}

func rowByteSliceTypes(t *testing.T) {
	want := commonInjection().merged(injection{
		typeOf[<-chan []byte](): 10, typeOf[chan<- []byte](): 10, typeOf[chan []byte](): -1,
	})
	checkInjection(t, probeInjection(t, ByteSliceMessages(testOptions(&logBuffer{})), want.keys()...), want)
}

func rowJSONTypes(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.SendChannelBuffer, o.RecvChannelBuffer = 4, 5
	cases := []struct {
		bind any
		want injection
	}{
		{ChatMessage{}, injection{typeOf[<-chan *ChatMessage](): 5, typeOf[chan<- *ChatMessage](): 4,
			typeOf[chan *ChatMessage](): -1, typeOf[<-chan ChatMessage](): -1, typeOf[chan ChatMessage](): -1}},
		{&ChatMessage{}, injection{typeOf[<-chan **ChatMessage](): 5, typeOf[chan<- **ChatMessage](): 4, typeOf[<-chan *ChatMessage](): -1}},
		{map[string]interface{}{}, injection{typeOf[<-chan *map[string]interface{}](): 5, typeOf[chan<- *map[string]interface{}](): 4}},
		{0, injection{typeOf[<-chan *int](): 5, typeOf[chan<- *int](): 4}},
	}
	for _, c := range cases {
		t.Run(reflect.TypeOf(c.bind).String(), func(t *testing.T) {
			want := commonInjection().merged(c.want)
			checkInjection(t, probeInjection(t, JSON(c.bind, o), want.keys()...), want)
		})
	}
}

func rowJSONNamedString(t *testing.T) {
	want := commonInjection().merged(injection{
		typeOf[<-chan string](): 10, typeOf[chan<- string](): 10,
		typeOf[<-chan *Name](): -1, typeOf[<-chan Name](): -1,
	})
	checkInjection(t, probeInjection(t, JSON(Name(""), testOptions(&logBuffer{})), want.keys()...), want)

	p := newProbe[string]()
	ts := serve(t, JSON(Name(""), testOptions(&logBuffer{})), p.handler)
	c := ts.dial()
	write(t, c, gorilla.TextMessage, []byte(`{"not":"decoded"}`))
	if m := p.next(t); m != `{"not":"decoded"}` {
		t.Fatalf("received %q, want the raw payload", m)
	}
	p.send <- `"raw"`
	if typ, b := readMessage(t, c); typ != gorilla.TextMessage || string(b) != `"raw"` {
		t.Fatalf("sent %d %q, want the raw text", typ, b)
	}
}

func rowJSONSlice(t *testing.T) {
	want := commonInjection().merged(injection{
		typeOf[<-chan []byte](): 10, typeOf[chan<- []byte](): 10, typeOf[<-chan *[]Item](): -1,
	})
	checkInjection(t, probeInjection(t, JSON([]Item{}, testOptions(&logBuffer{})), want.keys()...), want)

	p := newProbe[[]byte]()
	ts := serve(t, JSON([]Item{}, testOptions(&logBuffer{})), p.handler)
	c := ts.dial()
	write(t, c, gorilla.TextMessage, []byte(`[{"ID":1}]`))
	if m := p.next(t); string(m) != `[{"ID":1}]` {
		t.Fatalf("received %q, want the raw payload", m)
	}
	p.send <- []byte{0, 1, 2}
	if typ, b := readMessage(t, c); typ != gorilla.BinaryMessage || !bytes.Equal(b, []byte{0, 1, 2}) {
		t.Fatalf("sent %d %v, want a raw binary frame", typ, b)
	}
}

func rowUninjectedParam(t *testing.T) {
	ts := serve(t, Messages(testOptions(&logBuffer{})), func(chan string) {})
	c := ts.dial()
	if code, _ := readClose(t, c); code != 1011 {
		t.Fatalf("close code %d, want 1011", code)
	}
	ts.waitFinished()
	if !strings.Contains(ts.macaron.String(), "PANIC: Value not found for type chan string") {
		t.Fatalf("recovery did not log the panic:\n%s", ts.macaron)
	}
}

func rowJSONNil(t *testing.T) {
	if msg := mustPanic(t, func() { JSON(nil) }); !strings.Contains(msg, "JSON(nil)") {
		t.Fatalf("panic %q does not say what is wrong", msg)
	}
}

func rowMessagesReceive(t *testing.T) {
	p := newProbe[string]()
	ts := serve(t, Messages(testOptions(&logBuffer{})), p.handler)
	c := ts.dial()
	for _, m := range []struct {
		typ  int
		data string
	}{{gorilla.TextMessage, "text"}, {gorilla.BinaryMessage, "bin\x00ary"}, {gorilla.TextMessage, ""},
		{gorilla.BinaryMessage, "\xff\xfe"}, {gorilla.TextMessage, "héllo wörld ✓"}} {
		write(t, c, m.typ, []byte(m.data))
		if got := p.next(t); got != m.data {
			t.Fatalf("received %q, want %q", got, m.data)
		}
	}
	// A text frame that is not valid UTF-8 ends the connection with 1007.
	write(t, c, gorilla.TextMessage, []byte("\xff\xfe"))
	if code, _ := readClose(t, c); code != 1007 {
		t.Fatalf("close %d after invalid UTF-8 in a text frame, want 1007", code)
	}
	if e := p.end(t); !e.clean() || !errors.Is(e.err, wschan.ErrInvalidUTF8) {
		t.Fatalf("end %+v, want wschan.ErrInvalidUTF8 before done", e)
	}
	if len(p.got) != 0 {
		t.Fatalf("the invalid text was delivered: %q", <-p.got)
	}
}

func rowMessagesSend(t *testing.T) {
	logs := &logBuffer{}
	p := newProbe[string]()
	ts := serve(t, Messages(testOptions(logs)), p.handler)
	c := ts.dial()
	for _, s := range []struct{ sent, wire string }{
		{"hello", "hello"}, {"", ""}, {"\xff\xfe", "\ufffd\ufffd"}, {"ok \xc3\x28 ✓", "ok \ufffd( ✓"},
		{strings.Repeat("x", 70000), strings.Repeat("x", 70000)},
	} {
		p.send <- s.sent
		if typ, b := readMessage(t, c); typ != gorilla.TextMessage || string(b) != s.wire {
			t.Fatalf("frame %d %.40q, want a text frame %.40q", typ, b, s.wire)
		}
	}
	if n := strings.Count(logs.String(), "not valid UTF-8"); n != 1 {
		t.Fatalf("%d Warning lines about invalid UTF-8, want 1:\n%s", n, logs)
	}
}

func rowByteSliceFrames(t *testing.T) {
	p := newProbe[[]byte]()
	ts := serve(t, ByteSliceMessages(testOptions(&logBuffer{})), p.handler)
	c := ts.dial()
	for _, typ := range []int{gorilla.TextMessage, gorilla.BinaryMessage} {
		write(t, c, typ, []byte{1, 2, 3})
		if got := p.next(t); !bytes.Equal(got, []byte{1, 2, 3}) {
			t.Fatalf("received %v", got)
		}
	}
	write(t, c, gorilla.BinaryMessage, nil)
	if got := p.next(t); got == nil || len(got) != 0 {
		t.Fatalf("an empty frame arrived as %#v, want a non-nil empty slice", got)
	}
	for _, b := range [][]byte{{9, 8}, nil, {}} {
		p.send <- b
		if typ, got := readMessage(t, c); typ != gorilla.BinaryMessage || !bytes.Equal(got, b) {
			t.Fatalf("sent %d %v, want a binary frame %v", typ, got, b)
		}
	}
}

func rowJSONFrames(t *testing.T) {
	p := newProbe[*ChatMessage]()
	ts := serve(t, JSON(ChatMessage{}, testOptions(&logBuffer{})), p.handler)
	c := ts.dial()
	for _, typ := range []int{gorilla.TextMessage, gorilla.BinaryMessage} {
		write(t, c, typ, []byte(`{"from":"a","text":"b"}`))
		if got := p.next(t); got == nil || *got != (ChatMessage{"a", "b"}) {
			t.Fatalf("decoded %+v", got)
		}
	}
	p.send <- &ChatMessage{From: "<me>", Text: "a & b"}
	typ, b := readMessage(t, c)
	if want := "{\"from\":\"\\u003cme\\u003e\",\"text\":\"a \\u0026 b\"}\n"; typ != gorilla.TextMessage || string(b) != want {
		t.Fatalf("sent %d %q, want text %q", typ, b, want)
	}
	p.send <- nil
	if _, b := readMessage(t, c); string(b) != "null\n" {
		t.Fatalf("nil sent as %q, want \"null\\n\"", b)
	}
}

func rowJSONLenient(t *testing.T) {
	p := newProbe[*ChatMessage]()
	ts := serve(t, JSON(ChatMessage{}, testOptions(&logBuffer{})), p.handler)
	c := ts.dial()
	cases := []struct {
		in   string
		want ChatMessage
	}{
		{`{"from":"a","extra":1}`, ChatMessage{From: "a"}},
		{`null`, ChatMessage{}},
		{`{"text":"one"}{"text":"two"}`, ChatMessage{Text: "one"}},
		{`{"text":"first"} garbage`, ChatMessage{Text: "first"}},
	}
	for _, tc := range cases {
		write(t, c, gorilla.TextMessage, []byte(tc.in))
		if got := p.next(t); got == nil || *got != tc.want {
			t.Fatalf("%s decoded as %+v, want %+v", tc.in, got, tc.want)
		}
	}
	p.send <- &ChatMessage{Text: "still open"}
	readMessage(t, c)

	pp := newProbe[**ChatMessage]()
	ts2 := serve(t, JSON(&ChatMessage{}, testOptions(&logBuffer{})), pp.handler)
	c2 := ts2.dial()
	write(t, c2, gorilla.TextMessage, []byte(`null`))
	if got := pp.next(t); got == nil || *got != nil {
		t.Fatalf("null into **ChatMessage: %v, want a pointer to a nil pointer", got)
	}
}

func rowJSONInvalid(t *testing.T) {
	for _, bad := range []string{`{"text":`, `[1,2]`, `{"text":5}`, ``, "  \n"} {
		t.Run(bad, func(t *testing.T) {
			p := newProbe[*ChatMessage]()
			ts := serve(t, JSON(ChatMessage{}, testOptions(&logBuffer{})), p.handler)
			c := ts.dial()
			write(t, c, gorilla.TextMessage, []byte(`{"text":"before"}`))
			write(t, c, gorilla.TextMessage, []byte(bad))
			if got := p.next(t); got.Text != "before" {
				t.Fatalf("first message %+v", got)
			}
			code, reason := readClose(t, c)
			if code != 1007 || !strings.Contains(reason, "decode JSON") {
				t.Fatalf("close %d %q, want 1007 with the decoder's message", code, reason)
			}
			e := p.end(t)
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			if !e.clean() || e.err == nil || !(errors.As(e.err, &se) || errors.As(e.err, &te) || strings.Contains(e.err.Error(), "EOF")) {
				t.Fatalf("end %+v, want the decode error before done", e)
			}
		})
	}
}

// sizeLimits are the MaxMessageSize values of the size rows, with the limit
// each means (0: the default).
var sizeLimits = []struct {
	option int64
	limit  int
}{{16, 16}, {0, 65536}}

// sizeProbe connects a client to a ByteSliceMessages probe whose
// MaxMessageSize is option.
func sizeProbe(t *testing.T, option int64) (*probe[[]byte], *gorilla.Conn) {
	t.Helper()
	o := testOptions(&logBuffer{})
	o.MaxMessageSize = option
	p := newProbe[[]byte]()
	ts := serve(t, ByteSliceMessages(o), p.handler)
	return p, ts.dial()
}

func rowSizeExact(t *testing.T) {
	for _, size := range sizeLimits {
		limit := size.limit
		p, c := sizeProbe(t, size.option)
		write(t, c, gorilla.BinaryMessage, bytes.Repeat([]byte{7}, limit))
		if got := p.next(t); len(got) != limit {
			t.Fatalf("limit %d: received %d bytes", limit, len(got))
		}
	}
}

func rowSizeOver(t *testing.T) {
	for _, size := range sizeLimits {
		limit := size.limit
		p, c := sizeProbe(t, size.option)
		write(t, c, gorilla.BinaryMessage, bytes.Repeat([]byte{7}, limit+1))
		if code, _ := readClose(t, c); code != 1009 {
			t.Fatalf("limit %d: close %d, want 1009", limit, code)
		}
		e := p.end(t)
		if !e.clean() || e.err == nil || !strings.Contains(e.err.Error(), "message too big") {
			t.Fatalf("end %+v, want the size error before done", e)
		}
		if len(p.got) != 0 {
			t.Fatal("the oversized message was delivered")
		}
	}
}

func rowSizeSendUnlimited(t *testing.T) {
	o := testOptions(&logBuffer{})
	o.MaxMessageSize = 16
	p := newProbe[[]byte]()
	ts := serve(t, ByteSliceMessages(o), p.handler)
	c := ts.dial()
	p.send <- bytes.Repeat([]byte{1}, 100000)
	if _, b := readMessage(t, c); len(b) != 100000 {
		t.Fatalf("received %d bytes, want 100000", len(b))
	}
}

// Float is a JSON type that can hold NaN.
type Float struct{ V float64 }

func rowJSONUnencodable(t *testing.T) {
	p := newProbe[*Float]()
	ts := serve(t, JSON(Float{}, testOptions(&logBuffer{})), p.handler)
	c := ts.dial()
	p.send <- &Float{V: math.NaN()}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, b, err := c.ReadMessage()
	var ce *gorilla.CloseError
	if !errors.As(err, &ce) || ce.Code != 1011 {
		t.Fatalf("got frame %q, error %v; want no frame and close 1011", b, err)
	}
	e := p.end(t)
	var ue *json.UnsupportedValueError
	if !e.clean() || !errors.As(e.err, &ue) {
		t.Fatalf("end %+v, want the encode error before done", e)
	}
}

func rowOriginalRoundTrips(t *testing.T) {
	ps := newProbe[string]()
	ts := serve(t, Messages(testOptions(&logBuffer{})), ps.handler)
	c := ts.dial()
	write(t, c, gorilla.TextMessage, []byte("from client"))
	ps.send <- "from server"
	if got := ps.next(t); got != "from client" {
		t.Fatalf("string receive %q", got)
	}
	if _, b := readMessage(t, c); string(b) != "from server" {
		t.Fatalf("string send %q", b)
	}

	pb := newProbe[[]byte]()
	tb := serve(t, ByteSliceMessages(testOptions(&logBuffer{})), pb.handler)
	cb := tb.dial()
	write(t, cb, gorilla.BinaryMessage, []byte("client bytes"))
	pb.send <- []byte("server bytes")
	if got := pb.next(t); string(got) != "client bytes" {
		t.Fatalf("byte receive %q", got)
	}
	if _, b := readMessage(t, cb); string(b) != "server bytes" {
		t.Fatalf("byte send %q", b)
	}

	pj := newProbe[*ChatMessage]()
	tj := serve(t, JSON(ChatMessage{}, testOptions(&logBuffer{})), pj.handler)
	cj := tj.dial()
	if err := cj.WriteJSON(ChatMessage{From: "client", Text: "json"}); err != nil {
		t.Fatal(err)
	}
	pj.send <- &ChatMessage{From: "server", Text: "json"}
	if got := pj.next(t); *got != (ChatMessage{"client", "json"}) {
		t.Fatalf("JSON receive %+v", got)
	}
	var m ChatMessage
	_ = cj.SetReadDeadline(time.Now().Add(wait))
	if err := cj.ReadJSON(&m); err != nil || m != (ChatMessage{"server", "json"}) {
		t.Fatalf("JSON send %+v, %v", m, err)
	}
}
