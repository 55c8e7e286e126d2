package park

import (
	"reflect"
	"slices"
	"sync"
)

// An idle connection's write loop does not keep a goroutine: once it has had
// nothing to do for a while, it hands what it waits on (the sender, the
// disconnect channel, its timer and the connection's end) to Writers and
// returns. A group of Writers is one goroutine waiting, with reflect.Select,
// for the write loops of up to parkGroup connections; when one of them has
// an event, it resumes that write loop with the event, exactly as the
// loop's own wait would have returned it.

// parkGroup is how many parked write loops one goroutine waits for. Each
// park and each wake costs the group's goroutine a reflect.Select over
// four cases per loop: 16 keeps that small, for a sixteenth of a goroutine
// per idle connection.
const parkGroup = 16

// Writers holds the parked write loops of one endpoint. The zero value is
// ready to use.
type Writers struct {
	mu   sync.Mutex
	free []*parkedGroup // groups with room
}

// parkedGroup is up to parkGroup parked write loops and the goroutine that
// waits for them.
type parkedGroup struct {
	mu    sync.Mutex
	conns []Conn
	wake  chan struct{} // the set changed
}

// Park hands c's write loop's wait to a group; the loop returns right
// after.
func (pk *Writers) Park(c Conn) {
	pk.mu.Lock()
	var g *parkedGroup
	if n := len(pk.free); n > 0 {
		g = pk.free[n-1]
	} else {
		g = &parkedGroup{wake: make(chan struct{}, 1)}
		pk.free = append(pk.free, g)
		go pk.run(g)
	}
	g.mu.Lock()
	g.conns = append(g.conns, c)
	if len(g.conns) == parkGroup {
		pk.free = pk.free[:len(pk.free)-1]
	}
	g.mu.Unlock()
	pk.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// run waits for the group's write loops until none is left.
func (pk *Writers) run(g *parkedGroup) {
	// The wake case, then WriteCases per parked write loop, at full size
	// at once.
	const fixed = 1
	cases := make([]reflect.SelectCase, fixed, fixed+WriteCases*parkGroup)
	cases[0] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.wake)}
	var conns []Conn
	for {
		pk.mu.Lock()
		g.mu.Lock()
		if len(g.conns) == 0 {
			// Retire: under pk.mu, so that no park can pick this group.
			if i := slices.Index(pk.free, g); i >= 0 {
				pk.free = slices.Delete(pk.free, i, i+1)
			}
			g.mu.Unlock()
			pk.mu.Unlock()
			return
		}
		conns = append(conns[:0], g.conns...)
		g.mu.Unlock()
		pk.mu.Unlock()
		cases = cases[:fixed]
		for _, c := range conns {
			cases = c.WriteCases(cases)
		}
		chosen, v, ok := reflect.Select(cases)
		if chosen < fixed {
			continue
		}
		c := conns[(chosen-fixed)/WriteCases]
		pk.unpark(g, c)
		c.WriteWoke((chosen-fixed)%WriteCases, v, ok)
	}
}

// unpark takes c out of g.
func (pk *Writers) unpark(g *parkedGroup, c Conn) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	wasFull := len(g.conns) == parkGroup
	if i := slices.Index(g.conns, c); i >= 0 {
		g.conns = slices.Delete(g.conns, i, i+1) // clears the freed slot
	}
	if wasFull {
		pk.free = append(pk.free, g)
	}
}
