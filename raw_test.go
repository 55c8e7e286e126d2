package sockets

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-macaron/sockets/internal/wstest"
)

// testKey is a valid Sec-WebSocket-Key (RFC 6455's sample nonce).
const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

// upgradeHeaders returns the headers of a valid handshake, with origin
// unless it is empty.
func upgradeHeaders(origin string) http.Header {
	h := http.Header{}
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", "websocket")
	h.Set("Sec-WebSocket-Version", "13")
	h.Set("Sec-WebSocket-Key", testKey)
	if origin != "" {
		h.Set("Origin", origin)
	}
	return h
}

// rawResponse is what a raw HTTP exchange returned.
type rawResponse struct {
	status int
	header http.Header
	body   string
	conn   net.Conn // still open after a 101
	br     *bufio.Reader
}

// raw sends one HTTP/1.1 request over a new TCP connection, with host as the
// Host header (the server's own when empty), and reads the response. After a
// 101 the connection stays open for the caller and is closed at cleanup.
func (ts *testServer) raw(method, host string, h http.Header, extra []byte) rawResponse {
	ts.t.Helper()
	conn, err := net.DialTimeout("tcp", ts.host, wait)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(wait))
	if host == "" {
		host = ts.host
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s /ws HTTP/1.1\r\nHost: %s\r\n", method, host)
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := conn.Write(append([]byte(b.String()), extra...)); err != nil {
		ts.t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		ts.t.Fatalf("%s: read response: %v", method, err)
	}
	r := rawResponse{status: resp.StatusCode, header: resp.Header, conn: conn, br: br}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		r.body = string(body)
	}
	_ = conn.SetDeadline(time.Time{})
	return r
}

// wsHeaderNames lists the Sec-WebSocket-* headers of a response.
func wsHeaderNames(h http.Header) []string {
	var names []string
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "sec-websocket-") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}

// maskedFrame builds one client frame (FIN set, masked) of the given opcode.
func maskedFrame(opcode byte, payload []byte) []byte { return wstest.MaskedFrame(opcode, payload) }

// checkRejected checks a rejection: status, exact body, no Sec-WebSocket-*
// header but those in allowed.
func checkRejected(t *testing.T, r rawResponse, status int, body string, allowed ...string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Fatalf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
	if got, want := strings.Join(wsHeaderNames(r.header), ","), strings.Join(allowed, ","); got != want {
		t.Fatalf("Sec-WebSocket-* headers %q, want %q", got, want)
	}
}
