package wschan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RedialPolicy says when and how Redial connects again. Zero fields take
// their defaults.
type RedialPolicy struct {
	// MinDelay and MaxDelay bound the wait before each attempt: MinDelay,
	// doubling with each failed attempt up to MaxDelay, each wait cut by a
	// random part of up to half (jitter), so that the clients of a
	// restarted server do not all come back at the same instant. Default:
	// 250 ms and 30 s.
	MinDelay, MaxDelay time.Duration
	// MaxAttempts bounds the attempts in a row that fail before Redial
	// gives up (the first connection's included). Default: 0, no bound.
	MaxAttempts int
	// Before, when set, is called before each attempt (counted from 0 for
	// each connection) with the URL and a copy of the header it would use,
	// and returns those to use: a fresh token, say.
	Before func(attempt int, url string, header http.Header) (string, http.Header)
	// Retry decides, from how a connection ended, whether to connect
	// again. Default: RetryAfter.
	Retry func(r CloseRecord) bool
	// Reconnected, when set, is called each time a new connection has
	// replaced one that ended, before any of its messages is delivered:
	// with how the last one ended, the attempts it took, and the server's
	// answer to the handshake (its headers may say what the server
	// recovered).
	Reconnected func(ended CloseRecord, attempts int, resp *http.Response)
}

// RetryAfter is the default Retry: connect again after the network failed
// or the server fell silent, and after the server closed with 1001 (going
// away), 1011 (internal error), 1012 (restart), 1013 (try again later) or
// 1014; not after a close the application asked for, a normal close
// (1000), a policy violation (1008), a protocol, data or size error (1002,
// 1003, 1007, 1009: retrying would meet it again), or a code of the
// application's range (4000-4999), which an application gives to mean
// "do not come back" unless its own Retry says otherwise.
func RetryAfter(r CloseRecord) bool {
	switch r.By {
	case EndedByNetwork:
		return true
	case EndedByHandler:
		return false // the application closed it
	}
	code := r.ReceivedCode
	if r.By == EndedByServer {
		return false // this end shut down (its context)
	}
	switch code {
	case 1001, 1011, 1012, 1013, 1014:
		return true
	}
	return false
}

// Client is a connection that Redial keeps up: the channels of Conn, the
// same across every connection it makes. Receiver carries the messages of
// each connection in turn; a value put on Sender goes out on the
// connection of the moment (a value queued when a connection drops may be
// lost with it: a server that must not miss any resends on resume, as a
// hub's recovery does for what the client missed). Closing Sender, or a
// code on Disconnect, ends the client after what was queued; Done fires
// once the client has stopped for good, the cause (nil for an end the
// application asked for) on Error first.
type Client[T any] struct {
	Receiver   <-chan T
	Sender     chan<- T
	Error      <-chan error
	Disconnect chan<- int
	Done       <-chan bool

	resume func(last T, ok bool, url string, header http.Header) (string, http.Header)
	last   T
	has    bool

	recv   chan T
	send   chan T
	errc   chan error
	disc   chan int
	done   chan bool
	taken  chan struct{} // never closed: a client has no handler to return
	url    string
	opts   DialOptions
	policy RedialPolicy
}

// ErrGaveUp wraps the last error when Redial's policy stops trying.
var ErrGaveUp = errors.New("sockets: gave up reconnecting")

// Redial dials url as Dial does, and dials again after each end that
// policy.Retry allows, waiting as the policy says, until ctx is done, the
// application ends the client, or MaxAttempts attempts in a row fail. A
// handshake answered with 4xx is not tried again, except 429 and 503,
// after at least the Retry-After the server asked for. It returns once the
// first connection is up, or with the error that stopped it.
//
// resume, when not nil, is called before each reconnect with the last
// value put on Receiver (ok false if none yet: it may not have been read
// yet) and the URL and header about to be used, and returns those to use:
// put the position that value carries in the URL, and a hub's recovery
// (hub.JoinConnFrom) resumes exactly after it, with nothing missed and
// nothing twice, across reconnects and servers.
func Redial[T any](ctx context.Context, url string, opts *DialOptions, policy *RedialPolicy,
	resume func(last T, ok bool, url string, header http.Header) (string, http.Header)) (*Client[T], error) {
	c := &Client[T]{url: url, resume: resume}
	if opts != nil {
		c.opts = *opts
	}
	if policy != nil {
		c.policy = *policy
	}
	if c.policy.MinDelay <= 0 {
		c.policy.MinDelay = 250 * time.Millisecond
	}
	if c.policy.MaxDelay <= 0 {
		c.policy.MaxDelay = 30 * time.Second
	}
	if c.policy.Retry == nil {
		c.policy.Retry = RetryAfter
	}
	o := withDefaults(optionsOf(c.opts.Options))
	c.recv, c.send = make(chan T, o.RecvChannelBuffer), make(chan T, o.SendChannelBuffer)
	c.errc, c.disc, c.done = make(chan error, 1), make(chan int, 1), make(chan bool, 3)
	c.Receiver, c.Sender, c.Error, c.Disconnect, c.Done = c.recv, c.send, c.errc, c.disc, c.done
	conn, _, _, err := c.connect(ctx, false)
	if err != nil {
		return nil, err
	}
	go c.run(ctx, conn)
	return c, nil
}

// optionsOf is the options argument list of o.
func optionsOf(o *Options) []*Options {
	if o == nil {
		return nil
	}
	return []*Options{o}
}

// connect dials until a connection is up, the policy gives up, or ctx is
// done, and says how many attempts it took.
func (c *Client[T]) connect(ctx context.Context, again bool) (*Conn[T], *http.Response, int, error) {
	for attempt := 0; ; attempt++ {
		url, header := c.url, c.opts.Header.Clone()
		if again && c.resume != nil {
			url, header = c.resume(c.last, c.has, url, header)
		}
		if c.policy.Before != nil {
			url, header = c.policy.Before(attempt, url, header)
		}
		opts := c.opts
		opts.Header = header
		conn, resp, err := Dial[T](ctx, url, &opts)
		if err == nil {
			return conn, resp, attempt + 1, nil
		}
		wait := c.delay(attempt)
		if resp != nil {
			switch s := resp.StatusCode; {
			case s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable:
				if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && ra > 0 {
					wait = max(wait, time.Duration(ra)*time.Second)
				}
			case s >= 400 && s < 500:
				return nil, resp, attempt + 1, err // refused: trying again would be refused again
			}
			if resp.Body != nil {
				_ = resp.Body.Close()
			}
		}
		if c.policy.MaxAttempts > 0 && attempt+1 >= c.policy.MaxAttempts {
			return nil, resp, attempt + 1, fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, attempt+1, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, attempt + 1, fmt.Errorf("sockets: redial: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// delay is the wait before the attempt after attempt, with jitter.
func (c *Client[T]) delay(attempt int) time.Duration {
	d := c.policy.MaxDelay
	if attempt < 30 {
		d = min(c.policy.MinDelay<<attempt, c.policy.MaxDelay)
	}
	return d - time.Duration(rand.Int64N(int64(d)/2+1))
}

// run forwards between the client's channels and each connection's until
// the client stops, then tells the application.
func (c *Client[T]) run(ctx context.Context, conn *Conn[T]) {
	var cause error
	for {
		rec, asked := c.forward(conn)
		if asked || ctx.Err() != nil || !c.policy.Retry(rec) {
			cause = rec.Cause
			if asked {
				cause = nil
			}
			break
		}
		next, resp, attempts, err := c.connect(ctx, true)
		if err != nil {
			cause = err
			break
		}
		if c.policy.Reconnected != nil {
			c.policy.Reconnected(rec, attempts, resp)
		}
		conn = next
	}
	if cause != nil {
		c.errc <- cause
	}
	c.done <- true
	awaitTaken(c.done, c.taken)
	close(c.done)
	close(c.errc)
}

// forward moves values between the client's channels and conn's until
// conn has ended, and reports how, and whether the application asked for
// the end (it closed Sender or sent a code).
func (c *Client[T]) forward(conn *Conn[T]) (CloseRecord, bool) {
	asked := false
	send := (<-chan T)(c.send)
	disc := (<-chan int)(c.disc)
	var pending T
	holding := false
	for {
		var in <-chan T = conn.Receiver
		var out chan<- T
		if holding {
			in, out = nil, c.recv
		}
		select {
		case v := <-in:
			pending, holding = v, true
		case out <- pending:
			var zero T
			c.last, c.has = pending, true
			pending, holding = zero, false
		case v, ok := <-send:
			if !ok {
				close(conn.Sender)
				send, disc, asked = nil, nil, true
				continue
			}
			select {
			case conn.Sender <- v:
			case <-conn.Done:
				return c.ended(conn, holding, pending), asked
			}
		case code := <-disc:
			conn.Disconnect <- code
			send, disc, asked = nil, nil, true
		case <-conn.Done:
			return c.ended(conn, holding, pending), asked
		}
	}
}

// ended delivers what conn received before it ended (the value held, then
// what its receiver holds) and returns its close record.
func (c *Client[T]) ended(conn *Conn[T], holding bool, pending T) CloseRecord {
	if holding {
		c.recv <- pending
		c.last, c.has = pending, true
	}
	for len(conn.Receiver) > 0 {
		v := <-conn.Receiver
		c.recv <- v
		c.last, c.has = v, true
	}
	for range conn.Error { // closed once done's value is taken (above)
	}
	r, _ := conn.Connection.CloseRecord()
	return r
}
