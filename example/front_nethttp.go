package main

import (
	"net/http"

	"github.com/go-macaron/sockets/wschan"
)

// netHTTPApp is the same chat on the standard library's ServeMux alone: the
// net/http front hands the same channels to a function.
func netHTTPApp(a *app, ch *chat, o, chatOpts *wschan.Options) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", file(indexPage, "text/html; charset=utf-8"))
	mux.Handle("GET /echo", file(echoPage, "text/html; charset=utf-8"))
	mux.Handle("GET /favicon.svg", file(favicon, "image/svg+xml"))
	mux.Handle("GET /echo/text", a.track(wschan.Handler(echo[string], o)))
	mux.Handle("GET /echo/bytes", a.track(wschan.Handler(echo[[]byte], o)))
	mux.Handle("GET /sockets/rooms/{room}/{name}", a.track(wschan.Handler(func(c *wschan.Conn[*Message]) {
		ch.serve(c.Request.PathValue("room"), c.Request.PathValue("name"), c)
	}, chatOpts)))
	return mux
}

// track counts the connection while h serves it.
func (a *app) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.conns.Add(1)
		defer a.conns.Done()
		h.ServeHTTP(w, r)
	})
}

// file serves a static file.
func file(body []byte, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	})
}
