package bench

import (
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/go-macaron/sockets/sockettest"
	"github.com/go-macaron/sockets/wschan"
	"github.com/gorilla/mux"
	echov4 "github.com/labstack/echo/v4"
)

// TestRouters: the net/http front serves through the routers users pick,
// with their path parameters: the standard ServeMux, chi, gorilla/mux, and
// echo's and gin's net/http adapters (whose ResponseWriters wrap net/http's).
func TestRouters(t *testing.T) {
	greet := func(param func(*http.Request) string) http.Handler {
		return wschan.Handler(func(c *wschan.Conn[string]) {
			for {
				select {
				case m := <-c.Receiver:
					c.Sender <- param(c.Request) + ": " + m
				case <-c.Done:
					return
				}
			}
		}, quiet())
	}
	gin.SetMode(gin.ReleaseMode)
	routers := map[string]func() http.Handler{
		"ServeMux": func() http.Handler {
			m := http.NewServeMux()
			m.Handle("GET /rooms/{room}", greet(func(r *http.Request) string { return r.PathValue("room") }))
			return m
		},
		"chi": func() http.Handler {
			r := chi.NewRouter()
			r.Method(http.MethodGet, "/rooms/{room}", greet(func(r *http.Request) string { return chi.URLParam(r, "room") }))
			return r
		},
		"gorilla/mux": func() http.Handler {
			r := mux.NewRouter()
			r.Handle("/rooms/{room}", greet(func(r *http.Request) string { return mux.Vars(r)["room"] }))
			return r
		},
		"echo": func() http.Handler {
			e := echov4.New()
			e.GET("/rooms/:room", func(c echov4.Context) error {
				room := c.Param("room")
				greet(func(*http.Request) string { return room }).ServeHTTP(c.Response(), c.Request())
				return nil
			})
			return e
		},
		"gin": func() http.Handler {
			g := gin.New()
			g.GET("/rooms/:room", func(c *gin.Context) {
				room := c.Param("room")
				greet(func(*http.Request) string { return room }).ServeHTTP(c.Writer, c.Request)
			})
			return g
		},
	}
	for name, router := range routers {
		t.Run(name, func(t *testing.T) {
			c := sockettest.NewServer(t, router()).Dial("/rooms/lobby")
			c.SendText("hi")
			c.ExpectText("lobby: hi")
			c.Close(1000, "")
			if r := c.ServerRecord(); r.By != wschan.EndedByPeer || r.Code != 1000 {
				t.Fatalf("record %+v", r)
			}
		})
	}
}
