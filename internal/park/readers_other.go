//go:build !linux

package park

// Readers is Linux's epoll set of parked read loops; elsewhere a read loop
// keeps its goroutine while idle.
type Readers struct{}

// CanParkReads reports whether read loops park on this system: here they
// do not, so no Gate is enabled and none answers ErrPark.
const CanParkReads = false

// Park never parks here (no gate asks it to).
func (*Readers) Park(Conn, *Gate) (bool, error) { return false, nil }

// Unpark has nothing to take out here.
func (*Readers) Unpark(*Gate) bool { return false }
