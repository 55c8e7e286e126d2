package wschan

import (
	"reflect"
	"slices"
	"sync"
)

// An idle connection's write loop does not keep a goroutine: once it has had
// nothing to do for parkAfter (a second), it hands what it waits on (the sender, the
// disconnect channel, its timer and the connection's end) to a parker and
// returns. A parker is one goroutine waiting, with reflect.Select, for the
// write loops of up to parkGroup connections; when one of them has an event,
// it starts that write loop again with the event, exactly as the loop's own
// wait would have returned it. A busy connection never parks: parkAfter
// counts from its last event other than its timer. The read loop parks
// its own way (readgate.go, readpark_linux.go).

// parkGroup is how many parked write loops one goroutine waits for. Each
// park and each wake costs the group's goroutine a reflect.Select over
// four cases per loop: 16 keeps that small, for a sixteenth of a goroutine
// per idle connection.
const parkGroup = 16

// parker holds the parked write loops of one endpoint.
type parker struct {
	mu   sync.Mutex
	free []*parkedGroup // groups with room
}

// parkedGroup is up to parkGroup parked write loops and the goroutine that
// waits for them.
type parkedGroup struct {
	mu    sync.Mutex
	pumps []*pump
	wake  chan struct{} // the set changed
}

// park hands p's wait to a group; p's write loop returns right after.
func (pk *parker) park(p *pump) {
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
	g.pumps = append(g.pumps, p)
	if len(g.pumps) == parkGroup {
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
func (pk *parker) run(g *parkedGroup) {
	// The wake case, then four per parked write loop, at full size at once.
	const fixed = 1
	cases := make([]reflect.SelectCase, fixed, fixed+4*parkGroup)
	cases[0] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.wake)}
	var pumps []*pump
	for {
		pk.mu.Lock()
		g.mu.Lock()
		if len(g.pumps) == 0 {
			// Retire: under pk.mu, so that no park can pick this group.
			if i := slices.Index(pk.free, g); i >= 0 {
				pk.free = slices.Delete(pk.free, i, i+1)
			}
			g.mu.Unlock()
			pk.mu.Unlock()
			return
		}
		pumps = append(pumps[:0], g.pumps...)
		g.mu.Unlock()
		pk.mu.Unlock()
		cases = cases[:fixed]
		for _, p := range pumps {
			cases = p.box.appendCases(cases, &p.ev)
		}
		chosen, v, ok := reflect.Select(cases)
		if chosen < fixed {
			continue
		}
		i := (chosen - fixed) / 4
		p := pumps[i]
		pk.unpark(g, p)
		e := p.box.woke((chosen-fixed)%4, v, ok, &p.ev)
		go p.writeRun(e)
	}
}

// unpark takes p out of g.
func (pk *parker) unpark(g *parkedGroup, p *pump) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	wasFull := len(g.pumps) == parkGroup
	if i := slices.Index(g.pumps, p); i >= 0 {
		g.pumps = slices.Delete(g.pumps, i, i+1) // clears the freed slot
	}
	if wasFull {
		pk.free = append(pk.free, g)
	}
}
