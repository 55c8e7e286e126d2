package sockets

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
)

// Rejection bodies, as the original wrote them: plain text, no newline.
const (
	msgMethodNotAllowed = "Method not allowed"
	msgOriginNotAllowed = "Origin not allowed"
)

// The handshake failures answered with 400 before the upgrade. Their text is
// the original's, which clients may have matched on.
const (
	errNoConnectionUpgrade = "websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header"
	errNoUpgradeWebsocket  = "websocket: the client is not using the websocket protocol: 'websocket' token not found in 'Upgrade' header"
	errBadVersion          = "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header"
	errBadKey              = "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length"
	errOldHTTP             = "websocket: the client is not using HTTP/1.1 or later"
	errNoHijack            = "websocket: the server cannot take over this connection (http.Hijacker not implemented)"
)

// reject writes a plain-text rejection: status, body without newline, and
// net/http's own Content-Type sniffing, as the original did.
func reject(w http.ResponseWriter, status int, body string) {
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// checkHandshake validates the upgrade request the way the original's
// transport did, so that every failure is a 400 written here once, before
// coder/websocket's Accept, which would answer some of them with 426 and
// bodies of its own. It returns the status and reason of the failure, or 0.
func checkHandshake(w http.ResponseWriter, r *http.Request) (int, string) {
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return http.StatusBadRequest, errNoConnectionUpgrade
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return http.StatusBadRequest, errNoUpgradeWebsocket
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		// RFC 6455 section 4.4: tell the client which version we speak.
		w.Header().Set("Sec-WebSocket-Version", "13")
		return http.StatusBadRequest, errBadVersion
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return http.StatusBadRequest, errBadKey
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
		return http.StatusBadRequest, errBadKey
	}
	if !r.ProtoAtLeast(1, 1) {
		return http.StatusBadRequest, errOldHTTP
	}
	if _, ok := w.(http.Hijacker); !ok {
		return http.StatusNotImplemented, errNoHijack
	}
	return 0, ""
}

// headerHasToken reports whether the comma-separated header contains token,
// compared without regard to case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// placeholder matches the {{word}} slots of AllowedOrigin.
var placeholder = regexp.MustCompile(`\{\{\w*\}\}`)

// maxCachedOrigins bounds the per-host cache of compiled origin patterns, so
// that requests with many distinct Host headers cannot grow it without end.
const maxCachedOrigins = 256

// originPolicy decides whether a request's Origin is allowed. The pattern is
// compiled once per distinct Host and cached.
type originPolicy struct {
	pattern string

	mu    sync.Mutex
	cache map[string]*regexp.Regexp
}

// newOriginPolicy checks that pattern compiles, whatever the host, and
// panics with a clear message when it does not: the original silently
// rejected every request instead.
func newOriginPolicy(pattern string) *originPolicy {
	p := &originPolicy{pattern: pattern, cache: make(map[string]*regexp.Regexp)}
	if _, err := p.compile("example.com:80"); err != nil {
		panic(fmt.Sprintf("sockets: invalid AllowedOrigin %q: %v", pattern, err))
	}
	return p
}

// compile substitutes host, quoted, for every placeholder and anchors the
// pattern at both ends.
func (p *originPolicy) compile(host string) (*regexp.Regexp, error) {
	expr := placeholder.ReplaceAllLiteralString(p.pattern, regexp.QuoteMeta(host))
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("compile origin pattern for host %q: %w", host, err)
	}
	return re, nil
}

// allowed reports whether origin may connect to host.
func (p *originPolicy) allowed(host, origin string) bool {
	p.mu.Lock()
	re, ok := p.cache[host]
	p.mu.Unlock()
	if !ok {
		var err error
		if re, err = p.compile(host); err != nil {
			return false
		}
		p.mu.Lock()
		if len(p.cache) >= maxCachedOrigins {
			clear(p.cache)
		}
		p.cache[host] = re
		p.mu.Unlock()
	}
	return re.MatchString(origin)
}
