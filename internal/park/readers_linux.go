package park

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Readers holds the parked read loops of one endpoint, their sockets in an
// epoll set of its own, each for one readiness event. The set is waited for
// through the runtime's poller: one goroutine while anything is parked, no
// thread. The zero value is ready to use.
type Readers struct {
	mu     sync.Mutex
	ep     *os.File              // the epoll set; nil while nothing is parked
	epfd   int                   // its descriptor (os.File.Fd would make it blocking)
	parked map[uint64]parkedRead // by registration id
	next   uint64                // the last registration id
	sets   uint64                // epoll sets opened so far: the current one's number
}

// parkedRead is a parked read loop: its connection's gate and the
// connection, which starts it again.
type parkedRead struct {
	gate *Gate
	conn Conn
}

// Park registers the socket of g, c's gate, for its next readiness event
// and reports whether it did; then c's read loop returns, and Readers
// starts it again (c.ReadWoke) when the socket is readable. It refuses
// once c is ending (so that Unpark never misses a parked loop), and with
// an error when the socket cannot be registered.
func (rp *Readers) Park(c Conn, g *Gate) (bool, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if c.Ending() {
		return false, nil
	}
	if rp.ep == nil {
		if err := rp.start(); err != nil {
			return false, err
		}
	}
	rp.next++
	id := rp.next
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(id)),
		Pad:    int32(uint32(id >> 32)),
	}
	op := syscall.EPOLL_CTL_MOD
	if g.inSet != rp.sets {
		op = syscall.EPOLL_CTL_ADD
	}
	epfd := rp.epfd
	var err error
	if cerr := g.rc.Control(func(fd uintptr) {
		err = syscall.EpollCtl(epfd, op, int(fd), &ev)
	}); cerr != nil {
		err = cerr
	}
	if err != nil {
		rp.retireIfIdle()
		return false, fmt.Errorf("epoll_ctl: %w", err)
	}
	g.inSet = rp.sets
	rp.parked[id] = parkedRead{g, c}
	g.readID = id
	return true, nil
}

// Unpark takes the read loop of g's connection out if it is parked, and
// reports whether it was: the loop ends there. Once Unpark has returned, no
// read loop of that connection starts again.
func (rp *Readers) Unpark(g *Gate) bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.parked[g.readID].gate != g {
		return false
	}
	delete(rp.parked, g.readID)
	rp.retireIfIdle()
	return true
}

// start opens the epoll set and the goroutine that waits on it.
func (rp *Readers) start() error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return fmt.Errorf("epoll set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "sockets-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("epoll: %w", err)
	}
	rp.ep, rp.epfd = f, epfd
	rp.sets++
	if rp.parked == nil {
		rp.parked = make(map[uint64]parkedRead)
	}
	go rp.run(rc)
	return nil
}

// retireIfIdle closes the epoll set once nothing is parked; its goroutine
// then returns.
func (rp *Readers) retireIfIdle() {
	if len(rp.parked) == 0 && rp.ep != nil {
		_ = rp.ep.Close()
		rp.ep = nil
	}
}

// run waits for readiness events on one epoll set until it is closed, and
// starts the read loop of each parked connection whose socket is ready.
func (rp *Readers) run(rc syscall.RawConn) {
	var evs [64]syscall.EpollEvent
	for {
		n := 0
		err := rc.Read(func(fd uintptr) bool {
			for {
				k, err := syscall.EpollWait(int(fd), evs[:], 0)
				switch {
				case err == syscall.EINTR:
					continue
				case err != nil:
					return true // the set is closed or broken: the next Read says so
				}
				n = k
				return k > 0
			}
		})
		if err != nil || n == 0 {
			return
		}
		for _, ev := range evs[:n] {
			rp.wake(uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32)
		}
	}
}

// wake starts the read loop registered as id, unless shutdown took it out.
func (rp *Readers) wake(id uint64) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if p, ok := rp.parked[id]; ok {
		delete(rp.parked, id)
		rp.retireIfIdle()
		// Under the lock: the connection's Unpark, and whatever it does
		// after it, come after this.
		p.conn.ReadWoke()
	}
}

// CanParkReads reports whether read loops park on this system: here they
// do, in Readers' epoll set.
const CanParkReads = true
