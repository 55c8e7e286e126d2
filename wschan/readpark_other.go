//go:build !linux

package wschan

// readParker is Linux's epoll set of parked read loops; elsewhere a read
// loop keeps its goroutine while idle.
type readParker struct{}

// canParkReads: read loops do not park here, so the read gate is off and
// never answers errPark.
const canParkReads = false

// park never parks here (the read gate never asks it to).
func (*readParker) park(*pump) (bool, error) { return false, nil }

// unpark has nothing to take out here.
func (*readParker) unpark(*pump) bool { return false }
