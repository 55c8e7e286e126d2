package wschan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fastPolicy retries at once, so that tests do not wait out backoffs.
func fastPolicy() *RedialPolicy {
	return &RedialPolicy{MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
}

// TestRedialAcrossDrops: a server that drops every connection after its
// second message is dialled again each time; the application sees one
// stream, told of each reconnect.
func TestRedialAcrossDrops(t *testing.T) {
	var served atomic.Int64
	url, opts := serveWS(t, Handler(func(c *Conn[string]) {
		n := served.Add(1)
		c.Sender <- fmt.Sprintf("conn %d a", n)
		c.Sender <- fmt.Sprintf("conn %d b", n)
		if n < 4 {
			c.Disconnect <- 1006 // drop it, no close frame
		}
		<-c.Done
	}, &Options{SkipLogging: true}))
	var reconnects atomic.Int64
	policy := fastPolicy()
	policy.Reconnected = func(ended CloseRecord, attempts int, resp *http.Response) {
		if ended.By != EndedByNetwork || attempts < 1 || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Errorf("reconnected after %+v, %d attempts, %d", ended, attempts, resp.StatusCode)
		}
		reconnects.Add(1)
	}
	c, err := Redial[string](context.Background(), url, opts, policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 4; n++ {
		for _, part := range []string{"a", "b"} {
			if got, want := recvWithin(t, c.Receiver, "a message"), fmt.Sprintf("conn %d %s", n, part); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
	}
	if n := reconnects.Load(); n != 3 {
		t.Fatalf("%d reconnects, want 3", n)
	}
	close(c.Sender)
	if err := clientEnd(t, c); err != nil {
		t.Fatalf("the application's close ended with %v", err)
	}
}

// clientEnd waits for a client's done and returns its cause.
func clientEnd[T any](t *testing.T, c *Client[T]) error {
	t.Helper()
	return ended(t, c.Done, c.Error)
}

// TestRedialStopsWhenTold: no reconnect after a close the server means
// (1000, 1008, 4001) or after the application's own: done, with the cause.
func TestRedialStopsWhenTold(t *testing.T) {
	for _, code := range []int{1000, 1008, 4001} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			var served atomic.Int64
			url, opts := serveWS(t, Handler(func(c *Conn[string]) {
				served.Add(1)
				c.Disconnect <- code
				<-c.Done
			}, &Options{SkipLogging: true}))
			c, err := Redial[string](context.Background(), url, opts, fastPolicy(), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = clientEnd(t, c)
			var ce websocket.CloseError
			if code == 1000 && err != nil || code != 1000 && (!errors.As(err, &ce) || int(ce.Code) != code) {
				t.Fatalf("cause %v for the server's %d", err, code)
			}
			if n := served.Load(); n != 1 {
				t.Fatalf("%d connections, want 1: no reconnect", n)
			}
		})
	}
}

// TestRedialHandshakeAnswers: 4xx is final; 503 and 429 are tried again
// after their Retry-After; 5xx and a refused TCP connection again after
// the backoff; MaxAttempts bounds the attempts.
func TestRedialHandshakeAnswers(t *testing.T) {
	t.Run("403 is final", func(t *testing.T) {
		var tries atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tries.Add(1)
			http.Error(w, "no", http.StatusForbidden)
		}))
		defer srv.Close()
		_, err := Redial[string](context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil, fastPolicy(), nil)
		if err == nil || tries.Load() != 1 {
			t.Fatalf("err %v after %d tries, want one refused try", err, tries.Load())
		}
	})
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(status, " with Retry-After"), func(t *testing.T) {
			var tries atomic.Int64
			var first atomic.Int64
			echo := echoServer[string](&Options{SkipLogging: true})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tries.Add(1) == 1 {
					first.Store(time.Now().UnixNano())
					w.Header().Set("Retry-After", "1")
					http.Error(w, "later", status)
					return
				}
				r.Header.Set("Origin", "http://"+r.Host)
				echo.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c, err := Redial[string](context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil, fastPolicy(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(time.Unix(0, first.Load())); waited < time.Second {
				t.Fatalf("tried again after %v, before the Retry-After of 1 s", waited)
			}
			close(c.Sender)
			_ = clientEnd(t, c)
		})
	}
	t.Run("500 is tried again", func(t *testing.T) {
		var tries atomic.Int64
		echo := echoServer[string](&Options{SkipLogging: true})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tries.Add(1) <= 2 {
				http.Error(w, "oops", http.StatusInternalServerError)
				return
			}
			r.Header.Set("Origin", "http://"+r.Host)
			echo.ServeHTTP(w, r)
		}))
		defer srv.Close()
		c, err := Redial[string](context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil, fastPolicy(), nil)
		if err != nil || tries.Load() != 3 {
			t.Fatalf("err %v after %d tries, want the third to connect", err, tries.Load())
		}
		close(c.Sender)
		_ = clientEnd(t, c)
	})
	t.Run("MaxAttempts against a closed port", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := "ws" + strings.TrimPrefix(srv.URL, "http")
		srv.Close() // nothing listens there now
		p := fastPolicy()
		p.MaxAttempts = 3
		var attempts atomic.Int64
		p.Before = func(attempt int, url string, h http.Header) (string, http.Header) {
			attempts.Add(1)
			return url, h
		}
		if _, err := Redial[string](context.Background(), url, nil, p, nil); !errors.Is(err, ErrGaveUp) || attempts.Load() != 3 {
			t.Fatalf("err %v after %d attempts, want ErrGaveUp after 3", err, attempts.Load())
		}
	})
}

// TestRedialReadmeLoop: a loop written as the original's README shows (an
// error branch that counts and goes on, a done branch that returns), on a
// client that reconnects twice before the server says goodbye (4001): the
// reconnects are not ends; the end is seen once, its cause once, never a
// nil error.
func TestRedialReadmeLoop(t *testing.T) {
	var served atomic.Int64
	url, opts := serveWS(t, Handler(func(c *Conn[string]) {
		n := served.Add(1)
		c.Sender <- fmt.Sprint("hello ", n)
		if n < 3 {
			c.Disconnect <- 1006 // dropped: the client comes back
		} else {
			c.Disconnect <- 4001 // goodbye: it does not
		}
		<-c.Done
	}, &Options{SkipLogging: true}))
	c, err := Redial[string](context.Background(), url, opts, fastPolicy(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var messages, errRuns, nilErrs, doneRuns int
	var cause error
loop:
	for {
		select {
		case <-c.Receiver:
			messages++
		case err := <-c.Error:
			errRuns++
			if err == nil {
				nilErrs++
			}
			cause = err
		case <-c.Done:
			doneRuns++
			break loop
		case <-time.After(dialWait):
			t.Fatal("the client never ended")
		}
	}
	var ce websocket.CloseError
	if errRuns > 1 || nilErrs != 0 || doneRuns != 1 || cause != nil && (!errors.As(cause, &ce) || ce.Code != 4001) {
		t.Fatalf("error branch %d times (%d nil, cause %v), done %d times", errRuns, nilErrs, cause, doneRuns)
	}
	if n := served.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
	for len(c.Receiver) > 0 {
		<-c.Receiver
		messages++
	}
	if messages != 3 {
		t.Fatalf("%d messages, want the 3 the server sent", messages)
	}
}
