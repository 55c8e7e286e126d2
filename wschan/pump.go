package wschan

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/go-macaron/sockets/internal/park"
)

// errEnded is what a loop returns once it has decided the connection's end.
var errEnded = errors.New("sockets: connection ended")

// pump runs one connection: a read loop and the pings in an errgroup, and a
// write loop. The loop that sees the end first records it (finish), which
// closes the ended channel (the stop every wait of the loops selects on, as
// a context's Done would be, without a context's allocations); the write
// loop then shuts the connection down (shutdown: close the socket as the
// ending says, wait for the group, tell the handler), which saves the
// stack of a third goroutine.
//
// Either loop may park while idle (internal/park): its goroutine returns
// and a new one takes over at its next event. The write loop is counted by
// a WaitGroup of its own (writer); a parked read loop has left the group,
// and the read parker starts it in the group again under its lock, so that
// shutdown's unpark and its wait for the group come after any such start.
//
// Why a plain errgroup.Group whose error is not read, not WithContext: the
// end of a connection is more than the first error. It is an ending (who
// ended it, the close code and reason, the cause for the handler), the
// first one wins wherever it is found, the write loop included, and that
// loop is outside the group because it outlives it. So finish decides the
// end, once, and closes ended itself; a loop then returns errEnded,
// which the group need not report. The group gives Go and Wait over a set
// of goroutines that changes while the connection lives (pings come and
// go, a parked read loop leaves and is started again).
//
// The pump does not care who dialled: the server's upgrade and the
// client's Dial each make a Connection, a transport and the writeConn
// under it, and hand them to newPump, the one constructor. It reaches the
// handler's side through conn and its options through opts, fields it
// holds, not embeds; the socket notes reads into the pump's lastRead, data
// it was given, rather than calling back into the pump.
type pump struct {
	conn *Connection // what the handler sees: its channels, record, stats
	opts *Options
	e    *endpoint // its read buffers, parkers and ParkAfter, shared by the handler's connections
	ws   *websocket.Conn
	out  *writeConn // what the transport reads and writes through (out.Conn: the TCP or TLS connection)
	box  box

	group errgroup.Group

	lastRead atomic.Int64 // time since born (stats.born) of the last bytes read from the peer
	holding  atomic.Bool  // the read loop holds a value the receiver has no room for
	pings    atomic.Int32 // pings awaiting their pong

	replacedUTF8 atomic.Bool // a text value had invalid UTF-8 replaced

	peerClose atomic.Pointer[websocket.CloseError] // the peer's close frame, once read
	readErr   error                                // the read loop's last error; read after it returned

	// Write loop state.
	writer   sync.WaitGroup // the write loop, parked or not, until it has shut down
	parkMu   sync.Mutex     // guards spot and parked against finish
	spot     park.PairSpot  // where the write loop is parked (in e.writers)
	parked   bool           // it is parked there
	serving  bool           // a handler runs: see handing
	active   time.Duration  // since born: the write loop's last event other than its timer
	timerAt  time.Duration  // since born: when the timer fires
	ev       events
	timer    *time.Timer   // fires for the next ping or silence check
	nextPing time.Duration // since born
	deadline time.Duration // since born: when the peer's silence is checked

	end   atomic.Pointer[ending] // the ending, once decided (finish): made then, off the pump's idle bytes
	ended chan struct{}          // closed once the ending is decided

	// The hand-over of done and the error channel at the end: a handler's
	// (serving: started by the write loop, finished by the handler's
	// return), or the dialled connection's goroutine's (awaitTaken).
	handing *handOver // set once done has fired; read after wait
}

// newPump makes the pump of conn, whose transport ws runs over out, with
// e's buffers, parkers and ParkAfter.
func newPump(e *endpoint, conn *Connection, ws *websocket.Conn, out *writeConn) *pump {
	p := &pump{conn: conn, opts: conn.Options, e: e, ws: ws, out: out, ended: make(chan struct{})}
	conn.ended = p.ended
	ws.SetReadLimit(conn.MaxMessageSize)
	// Every byte read from the peer is liveness: the socket notes when.
	out.lastRead, out.born = &p.lastRead, conn.stats.born
	return p
}

// run starts the loops.
func (p *pump) run() {
	if p.out.rd.Enabled() {
		p.out.rd.Arm(p.out.Conn) // a peer that never sends parks too
	}
	p.group.Go(p.readLoop)
	p.writer.Add(1)
	p.writeLoop()
}

// wait returns once the connection has ended and every goroutine of it has
// returned.
func (p *pump) wait() {
	p.writer.Wait() // its shutdown waits for the group
}

// finish records e as the connection's ending unless one was recorded
// already, which closes ended, and returns errEnded for the calling loop to
// return. Any goroutine may call it, before run too.
func (p *pump) finish(e ending) error {
	if p.end.Load() == nil {
		decided := new(ending)
		*decided = e // before it is published: a loser of the race reads it at once
		if p.end.CompareAndSwap(nil, decided) {
			close(p.ended)
		}
	}
	// A parked write loop does not wait on ended (it would cost each
	// parked connection a select case): it is stopped instead.
	p.parkMu.Lock()
	if p.parked {
		p.e.writers.stop(p.spot)
	}
	p.parkMu.Unlock()
	return errEnded
}

// readEnding classifies a read error, and keeps the peer's close frame for
// the close record whether or not it ends the connection (it may be the
// answer to ours).
func (p *pump) readEnding(err error) ending {
	p.readErr = err
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		if bad := p.out.guard.invalid.Load(); bad != nil {
			p.peerClose.Store(bad)
			return invalidCloseEnding(bad)
		}
		p.peerClose.Store(&ce)
	}
	return readEnding(err)
}

// notePeerAnswer records the peer's answer to our close frame when Close,
// not the read loop, read it: Close returns the answer when its code
// differs from ours, and nothing when it is the same (the read loop then
// found the connection closed; the reason is not known). Call it after the
// read loop has returned.
func (p *pump) notePeerAnswer(e *ending, closeErr error) {
	if e.act != actClose || p.peerClose.Load() != nil {
		return
	}
	var ce websocket.CloseError
	switch {
	case errors.As(closeErr, &ce):
		p.peerClose.Store(&ce)
	case closeErr == nil && errors.Is(p.readErr, net.ErrClosed):
		p.peerClose.Store(&websocket.CloseError{Code: e.code})
	}
}

// touch records read activity from the peer: any bytes read from the
// socket count (writeConn.seen), a pong's as a large message's arriving
// slowly.
func (p *pump) touch() {
	p.lastRead.Store(int64(time.Since(p.conn.stats.born)))
}

// readLoop reads messages, decodes them and delivers them to the receiver.
// While the receiver is full it holds one value and reads no further (TCP
// back-pressure, bounded memory; unread pongs are then not the peer's
// silence). It never blocks past the connection's end. Idle for parkAfter
// between two messages, it parks: the read parker runs it again, in a new
// goroutine in the group, when the socket is readable.
func (p *pump) readLoop() error {
	for {
		p.out.rd.AtStart.Store(true)
		typ, r, err := p.ws.Reader(context.Background())
		p.out.rd.AtStart.Store(false)
		if errors.Is(err, park.ErrPark) {
			parked, perr := p.e.rparker.Park(p, &p.out.rd)
			if parked {
				p.conn.stats.readParks.Add(1)
				p.conn.stats.readParked.Add(1) // after the park: a wake may come first (-1, then 0)
				return nil
			}
			if perr != nil {
				// The socket cannot be waited for: read on its goroutine.
				p.out.rd.StopParking()
				if p.opts.enabled(LogLevelDebug) {
					p.opts.logEvent(p.conn.request, LogLevelDebug, "Read loop cannot park",
						"The read loop cannot park: "+perr.Error(), slog.String("error", perr.Error()))
				}
			}
			continue // parked or not, the connection reads on
		}
		if err != nil {
			return p.finish(p.readEnding(err))
		}
		buf := p.e.bufs.Get().(*[]byte)
		msg, err := readAll(r, (*buf)[:0])
		if err == nil {
			p.touch()
			p.conn.stats.read(len(msg))
			if typ == websocket.MessageText && !utf8.Valid(msg) {
				// RFC 6455 8.1: the transport does not check.
				err = p.finish(invalidUTF8Ending())
			} else if err = p.box.decode(msg); err != nil {
				err = p.finish(decodeEnding(err))
			}
		} else {
			err = p.finish(p.readEnding(err))
		}
		*buf = msg[:0]
		p.e.bufs.Put(buf)
		if err != nil {
			return err
		}
		if p.box.offer() {
			continue
		}
		p.holding.Store(true)
		delivered := !p.Ending() && p.box.deliver(p.ended)
		p.holding.Store(false)
		if !delivered {
			return nil
		}
		p.touch()
	}
}

// readAll appends the rest of r to buf, growing it as needed. The transport's
// read limit bounds the total.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return buf, nil
			}
			return buf, err
		}
	}
}

// writeLoop starts the write loop, which writes what the handler sends,
// pings, watches the silence deadline, and ends the connection when the
// handler closes its sender or sends a close code.
func (p *pump) writeLoop() {
	// One timer serves pings, the silence deadline and parking, all as
	// durations since the connection was born.
	p.nextPing, p.deadline = p.opts.PingPeriod, p.opts.PongWait
	p.ev = events{disconnect: p.conn.Disconnect, stop: p.ended}
	p.setTimer()
	// It runs from the start (a connection that ends within a second never
	// touches the parker), and parks at once if it starts late, the
	// connection idle for parkAfter already (a slow Upgraded hook).
	if p.idleEnough() && p.parkWrite() {
		return
	}
	go func() { p.writeRun(p.box.wait(&p.ev)) }()
}

// writeRun handles e and the events after it until the connection ends
// (it then shuts it down) or the loop has been idle for parkAfter (it
// parks; the parker calls it again, in a new goroutine, at the next event).
func (p *pump) writeRun(e event) {
	for {
		if e != evTimer {
			p.active = time.Since(p.conn.stats.born)
		}
		if p.handle(e) {
			p.timer.Stop()
			p.shutdown()
			if p.serving {
				p.handing = startHandOver(p.conn.Done, p.conn.Error) // before Done: read after wait
			}
			p.writer.Done()
			return
		}
		if p.idleEnough() && p.parkWrite() {
			return
		}
		if p.e.parkAfter > 0 && p.timerAt > p.active+p.e.parkAfter {
			p.setTimer() // wake to park, once idle long enough
		}
		e = p.box.wait(&p.ev)
	}
}

// parkWrite parks the write loop, unless the connection is ending, and
// reports whether it did; the loop then returns. Parked, it keeps neither
// its timer (its group's serves: Due) nor a select case for ended (finish
// stops it), only the sender and disconnect cases.
func (p *pump) parkWrite() bool {
	p.parkMu.Lock()
	defer p.parkMu.Unlock()
	if p.Ending() {
		return false // the loop's own wait sees ended closed
	}
	p.conn.stats.writeParks.Add(1)
	p.conn.stats.writeParked.Add(1)
	p.timer.Stop()
	p.timer, p.ev.timer = nil, nil
	p.parked = true
	p.spot = p.e.writers.park(p)
	return true
}

// The pump is what the read parker sees of a connection (park.Conn), and,
// as a writeWaiter, what its endpoint's writers see of its write loop.

// due is when the parked write loop's timer would fire.
func (p *pump) due() time.Time { return p.conn.stats.born.Add(p.timerAt) }

// wokeWrite resumes the parked write loop with e, what woke it.
func (p *pump) wokeWrite(e event) {
	p.parkMu.Lock()
	p.parked = false
	p.parkMu.Unlock()
	p.conn.stats.writeParked.Add(-1)
	go func() {
		p.setTimer() // made again: dropped while parked
		p.writeRun(e)
	}()
}

// Ending reports whether the connection is ending.
func (p *pump) Ending() bool {
	select {
	case <-p.ended:
		return true
	default:
		return false
	}
}

// ReadWoke starts the parked read loop again, in the group.
func (p *pump) ReadWoke() {
	p.conn.stats.readParked.Add(-1)
	p.group.Go(p.readLoop)
}

// idleEnough reports whether the write loop has been idle for parkAfter
// (never, with parking off).
func (p *pump) idleEnough() bool {
	return p.e.parkAfter > 0 && time.Since(p.conn.stats.born)-p.active >= p.e.parkAfter
}

// setTimer sets the write loop's timer for whichever comes first: the next
// ping, the silence deadline, or (while not idle long enough) parking.
func (p *pump) setTimer() {
	now := time.Since(p.conn.stats.born)
	next := min(p.nextPing, p.deadline)
	if park := p.active + p.e.parkAfter; p.e.parkAfter > 0 && park > now {
		next = min(next, park)
	}
	p.timerAt = max(next, now)
	if p.timer == nil {
		p.timer = time.NewTimer(p.timerAt - now)
		p.ev.timer = p.timer.C
		return
	}
	p.timer.Reset(p.timerAt - now)
}

// handle acts on one event of the write loop and reports whether the loop
// is over (the connection's ending is then recorded).
func (p *pump) handle(e event) (stop bool) {
	switch e {
	case evValue:
		return p.writeBatch() != nil
	case evSenderClosed:
		p.finish(senderClosedEnding())
		return true
	case evDisconnect:
		// Everything queued before the code goes out before the close
		// frame. The sender holds at most its capacity of such values.
		for range p.opts.SendChannelBuffer {
			if !p.box.poll() {
				break
			}
			if p.write() != nil {
				return true
			}
		}
		r := p.conn.decidedClose(p.ev.code)
		p.finish(disconnectEnding(r.code, r.reason))
		return true
	case evTimer:
		return p.tick()
	}
	return true // evStop
}

// tick pings when a ping is due and checks the peer's silence when the
// deadline is due, then sets the timer for whichever comes next.
func (p *pump) tick() (stop bool) {
	now := time.Since(p.conn.stats.born)
	if now >= p.nextPing {
		p.ping()
		p.nextPing = now + p.opts.PingPeriod
	}
	if now >= p.deadline {
		last := time.Duration(p.lastRead.Load())
		switch {
		case p.holding.Load():
			// Unread pongs are not the peer's silence.
			p.deadline = now + p.opts.PongWait
		case now-last >= p.opts.PongWait && unreadBytes(p.out.Conn) > 0:
			// The peer's bytes wait in the socket: the server is behind
			// (overloaded), not the peer silent.
			p.deadline = now + p.opts.PongWait
		case now-last >= p.opts.PongWait:
			p.finish(silentPeerEnding())
			return true
		default:
			p.deadline = last + p.opts.PongWait
		}
	}
	p.setTimer()
	return false
}

// maxBatchValues bounds how many queued values one batch writes.
const maxBatchValues = 64

// writeBatch writes the staged value and whatever else the sender already
// holds, up to maxBatchValues, and puts them on the socket together.
func (p *pump) writeBatch() error {
	p.out.beginBatch()
	err := p.write()
	for n := 1; err == nil && n < maxBatchValues && p.box.poll(); n++ {
		err = p.write()
	}
	if ferr := p.out.endBatch(); err == nil && ferr != nil {
		err = p.finish(writeEnding(ferr))
	}
	return err
}

// write encodes the staged sender value and writes it as one frame.
func (p *pump) write() error {
	typ, frame, err := p.box.encode()
	if err != nil {
		return p.finish(encodeEnding(err))
	}
	if typ == websocket.MessageText && !utf8.Valid(frame) {
		frame = p.validText(frame)
	}
	err = p.ws.Write(context.Background(), typ, frame)
	p.box.sent()
	if err == nil {
		p.conn.stats.wrote(len(frame))
		return nil
	}
	if errors.Is(err, net.ErrClosed) {
		// The transport closed the socket, or sent a close frame, on the
		// read side (a peer's close, an oversized message): the read loop
		// reports that cause. Wait for it, bounded.
		t := time.NewTimer(p.opts.closeWait())
		defer t.Stop()
		select {
		case <-p.ended:
			return nil
		case <-t.C:
		}
	}
	return p.finish(writeEnding(err))
}

// logEnd logs the end: as the original's text lines (the ending's, then
// "Connection closed"), or with Options.Slog as one record "Connection
// closed" at the ending's level, the rest as attributes.
func (p *pump) logEnd(e *ending, r *CloseRecord) {
	if p.opts.Slog == nil {
		if e.msg != "" && p.opts.enabled(e.level) {
			msg := e.message()
			p.opts.logEvent(p.conn.request, e.level, msg, msg)
		}
		p.opts.logEvent(p.conn.request, LogLevelInfo, "Connection closed", "Connection closed")
		return
	}
	level := min(e.level, LogLevelInfo) // an ending is never a Debug line
	if !p.opts.enabled(level) {
		return
	}
	st := p.conn.Stats()
	attrs := []slog.Attr{slog.String("by", r.By.String()),
		slog.Int("code", r.Code), slog.String("reason", r.Reason), slog.Bool("clean", r.Clean),
		slog.Duration("duration", time.Since(st.ConnectedAt)),
		slog.Int64("messages_in", st.MessagesIn), slog.Int64("bytes_in", st.BytesIn),
		slog.Int64("messages_out", st.MessagesOut), slog.Int64("bytes_out", st.BytesOut)}
	if e.msg != "" {
		attrs = append(attrs, slog.String("detail", e.message()))
	}
	if r.Cause != nil {
		attrs = append(attrs, slog.String("cause", r.Cause.Error()))
	}
	p.opts.logEvent(p.conn.request, level, "Connection closed", "", attrs...)
}

// validText returns frame with each invalid UTF-8 byte replaced by U+FFFD,
// so that no text frame makes a browser fail the connection (RFC 6455
// 8.1), logged once per connection. Only strings can need it.
func (p *pump) validText(frame []byte) []byte {
	if p.replacedUTF8.CompareAndSwap(false, true) {
		const msg = "A text message is not valid UTF-8: each invalid byte is sent as U+FFFD (logged once per connection)"
		p.opts.logEvent(p.conn.request, LogLevelWarning, msg, msg)
	}
	return []byte(string([]rune(string(frame)))) // each invalid byte becomes U+FFFD
}

// maxPings bounds the pings awaiting their pong at once.
const maxPings = 2

// ping sends one ping in a goroutine of its own, since the transport's Ping
// waits for the pong and a ping must not hold back a message. It waits at
// most one PingPeriod (or PongWait): the silence deadline judges whether
// the peer answers, so a ping goes out every PingPeriod even while no pong
// can be read (delivery held back), as proxies that drop idle connections
// need.
func (p *pump) ping() {
	if p.pings.Add(1) > maxPings {
		p.pings.Add(-1)
		return
	}
	if p.opts.enabled(LogLevelDebug) {
		p.opts.logEvent(p.conn.request, LogLevelDebug, "Sending ping", "Sending ping")
	}
	p.group.Go(func() error {
		defer p.pings.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), min(p.opts.PingPeriod, p.opts.PongWait))
		defer cancel()
		start := time.Now()
		err := p.ws.Ping(ctx)
		if err == nil {
			p.conn.stats.rtt.Store(int64(time.Since(start)))
		}
		if err == nil || ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
			// Answered; or unanswered, which the silence deadline judges;
			// or the connection is closing, which another loop reports.
			return nil
		}
		return p.finish(writeEnding(err))
	})
}

// ensureEnded records an ending should a loop ever stop without (it closes
// ended, so that a read loop waiting to deliver gives up). Not inlined:
// the ending it makes, and finish's copy of it, stay off shutdown's frame,
// which is on the stack while the socket closes (see shutdown).
//
//go:noinline
func (p *pump) ensureEnded() { p.finish(shutdownEnding()) }

// shutdown runs when the write loop returns: it closes the socket as the
// ending says, waits for the read loop and any ping, then tells the
// handler (the cause on the error channel first, then done). The
// hand-over closes both channels afterwards.
func (p *pump) shutdown() {
	p.ensureEnded()
	if p.e.rparker.Unpark(&p.out.rd) {
		p.conn.stats.readParked.Add(-1)
		// A parked read loop ends here, as if it had read on and found
		// the socket closed (see notePeerAnswer): the close handshake's
		// reads are Close's own.
		p.readErr = net.ErrClosed
	}
	e := p.end.Load() // read only: finish has recorded it, once
	var closeErr error
	switch e.act {
	case actClose:
		// Bound the wait for the peer's close frame; writes are bounded by
		// WriteWait already.
		p.out.closeDeadline(time.Now().Add(p.opts.closeWait()))
		closeErr = p.ws.Close(e.code, e.reason)
	case actDrop:
		_ = p.ws.CloseNow()
	}
	_ = p.group.Wait()
	p.notePeerAnswer(e, closeErr)

	rec := e.record(p.peerClose.Load(), p.out.closeSent())
	p.logEnd(e, rec)
	p.conn.record.Store(rec)
	if e.cause != nil {
		p.conn.Error <- e.cause // capacity 1, and the only send: never blocks
	}
	p.conn.Done <- true // capacity 3, and the only send: never blocks
}
