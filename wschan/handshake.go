package wschan

import (
	"encoding/base64"
	"fmt"
	"iter"
	"net/http"
	"slices"
	"strings"
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

// The headers the handshake reads, spelled as net/http stores them
// (http.CanonicalHeaderKey), so that reading them does not allocate the
// canonical spelling of "Sec-WebSocket-..." each time.
const (
	hdrVersion    = "Sec-Websocket-Version"
	hdrKey        = "Sec-Websocket-Key"
	hdrProtocol   = "Sec-Websocket-Protocol"
	hdrExtensions = "Sec-Websocket-Extensions"
)

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
	if r.Header.Get(hdrVersion) != "13" {
		// RFC 6455 section 4.4: tell the client which version we speak.
		w.Header().Set("Sec-WebSocket-Version", "13")
		return http.StatusBadRequest, errBadVersion
	}
	keys := r.Header.Values(hdrKey)
	if len(keys) != 1 {
		return http.StatusBadRequest, errBadKey
	}
	// A key is 16 bytes in base64: 24 characters, decoded on the stack.
	key := strings.TrimSpace(keys[0])
	if len(key) != 24 {
		return http.StatusBadRequest, errBadKey
	}
	var k [18]byte // what 24 characters of base64 decode to at most
	if n, err := base64.StdEncoding.Decode(k[:], []byte(key)); err != nil || n != 16 {
		return http.StatusBadRequest, errBadKey
	}
	if !r.ProtoAtLeast(1, 1) {
		return http.StatusBadRequest, errOldHTTP
	}
	if !canHijack(w) {
		return http.StatusNotImplemented, errNoHijack
	}
	return 0, ""
}

// headerHasToken reports whether the comma-separated header contains token,
// compared without regard to case.
func headerHasToken(h http.Header, name, token string) bool {
	for t := range headerTokens(h, name) {
		if strings.EqualFold(t, token) {
			return true
		}
	}
	return false
}

// canHijack reports whether w, or a writer it wraps (as routers' and
// middleware's writers do, with an Unwrap method), can be hijacked.
func canHijack(w http.ResponseWriter) bool {
	for {
		if _, ok := w.(http.Hijacker); ok {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

// subprotocol chooses the subprotocol for r as the options say, or returns
// the status and reason of a rejection.
func (o *Options) subprotocol(r *http.Request) (proto string, status int, reason string) {
	offered := slices.Collect(headerTokens(r.Header, hdrProtocol))
	if o.ChooseSubprotocol != nil {
		p, err := o.ChooseSubprotocol(r, offered)
		switch {
		case err != nil:
			return "", http.StatusBadRequest, "websocket: subprotocol rejected: " + err.Error()
		case p != "" && !slices.Contains(offered, p):
			return "", http.StatusInternalServerError, "websocket: the server chose a subprotocol the client did not offer"
		}
		proto = p
	} else {
		for _, sp := range o.Subprotocols {
			if i := slices.IndexFunc(offered, func(cp string) bool { return strings.EqualFold(sp, cp) }); i >= 0 {
				proto = offered[i]
				break
			}
		}
	}
	if proto == "" && o.SubprotocolRequired {
		return "", http.StatusBadRequest, fmt.Sprintf("websocket: a subprotocol is required: the client offered %q, the server speaks %q",
			offered, o.Subprotocols)
	}
	return proto, 0, ""
}

// headerTokens yields the comma-separated tokens of every value of the
// header name, trimmed, without empty ones; cut as strings.Split would,
// without its slices.
func headerTokens(h http.Header, name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, v := range h.Values(name) {
			for more := true; more; {
				var t string
				t, v, more = strings.Cut(v, ",")
				if t = strings.TrimSpace(t); t != "" && !yield(t) {
					return
				}
			}
		}
	}
}
