package park

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// twoChans waits, in Pairs, on a channel of strings and one of ints, as a
// parked write loop waits on its sender and its disconnect channel.
type twoChans struct {
	a    chan string
	b    chan int
	due  time.Time
	woke chan Wake[string, int]
}

func newTwoChans() *twoChans {
	return &twoChans{a: make(chan string, 1), b: make(chan int, 1), woke: make(chan Wake[string, int], 2)}
}

func (w *twoChans) Chans() (<-chan string, <-chan int) { return w.a, w.b }
func (w *twoChans) Due() time.Time                     { return w.due }
func (w *twoChans) Woke(wk Wake[string, int])          { w.woke <- wk }

// TestPairsStopRacingAValue: Stop and a value on one of the waiter's
// channels at once, 500 times, over more waiters than a group holds: each
// waiter is woken exactly once, with the value it was sent (on the channel
// it was sent on) or as Stopped with the value still in its channel; a
// stale Stop wakes nothing more.
func TestPairsStopRacingAValue(t *testing.T) {
	ps := &Pairs[string, int]{}
	const n = PairsPerGroup + 8
	for run := range 500 {
		waiters := make([]*twoChans, n)
		spots := make([]PairSpot, n)
		for i := range waiters {
			waiters[i] = newTwoChans()
			spots[i] = ps.Park(waiters[i])
		}
		var wg sync.WaitGroup
		for i, w := range waiters {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					w.a <- "v"
				} else {
					w.b <- run
				}
			}()
			go func() { defer wg.Done(); ps.Stop(spots[i]) }()
		}
		wg.Wait()
		for i, w := range waiters {
			var got Wake[string, int]
			select {
			case got = <-w.woke:
			case <-time.After(10 * time.Second):
				t.Fatalf("run %d: waiter %d never woke", run, i)
			}
			switch {
			case got.Case == CaseA && i%2 == 0 && got.OK && got.A == "v":
			case got.Case == CaseB && i%2 == 1 && got.OK && got.B == run:
			case got.Case == Stopped && len(w.a)+len(w.b) == 1:
			default:
				t.Fatalf("run %d: waiter %d woke with %+v (%d and %d values left)", run, i, got, len(w.a), len(w.b))
			}
		}
		for i, w := range waiters {
			ps.Stop(spots[i])
			if len(w.woke) != 0 {
				t.Fatalf("run %d: waiter %d woke twice", run, i)
			}
		}
	}
	ps.Wait()
}

// TestPairsDue: a group wakes each waiter with Timeout once its Due has
// come, and not before; a waiter with no Due waits on, and a closed
// channel wakes its waiter with OK false.
func TestPairsDue(t *testing.T) {
	ps := &Pairs[string, int]{}
	start := time.Now()
	woke := make(chan int, 4)
	var timed []*twoChans
	for i, d := range []time.Duration{40, 10, 30, 20} {
		w := newTwoChans()
		w.due = start.Add(d * time.Millisecond)
		timed = append(timed, w)
		ps.Park(w)
		go func() {
			if wk := <-w.woke; wk.Case == Timeout {
				woke <- i
			} else {
				woke <- -1
			}
		}()
	}
	never := newTwoChans()
	ps.Park(never)
	for range timed {
		select {
		case i := <-woke:
			if i < 0 {
				t.Fatal("a timed waiter woke other than by Timeout")
			}
			if now := time.Now(); now.Before(timed[i].due) {
				t.Fatalf("waiter %d woken %v before its time", i, timed[i].due.Sub(now))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a timed waiter was never woken")
		}
	}
	if len(never.woke) != 0 {
		t.Error("a waiter with no time was woken")
	}
	close(never.b)
	if wk := <-never.woke; wk.Case != CaseB || wk.OK {
		t.Errorf("the untimed waiter woke with %+v, want its closed channel", wk)
	}
	ps.Wait()
}

// TestPairsUnpark: an unparked waiter is not woken by its channels; the
// others of its group are, and its group's goroutine returns once the
// group is empty.
func TestPairsUnpark(t *testing.T) {
	ps := &Pairs[string, int]{}
	gone, stays := newTwoChans(), newTwoChans()
	spot := ps.Park(gone)
	ps.Park(stays)
	ps.Unpark(spot)
	gone.a <- "lost?"
	stays.b <- 7
	select {
	case wk := <-stays.woke:
		if wk.Case != CaseB || wk.B != 7 {
			t.Fatalf("woke with %+v", wk)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the parked waiter never woke")
	}
	ps.Wait() // the group is empty: its goroutine returns
	if len(gone.woke) != 0 || len(gone.a) != 1 {
		t.Fatal("the unparked waiter was woken, or its value taken")
	}
	ps.Unpark(spot) // again: nothing to do
}

// BenchmarkWakeAll: 2048 parked waiters of two channels each (as parked
// write loops: a sender and a disconnect channel), then a value for every
// one at once, as a broadcast to a room of idle connections sends: the CPU
// and allocations per wake.
func BenchmarkWakeAll(b *testing.B) {
	const n = 2048
	var ps Pairs[string, int]
	waiters := make([]*twoChans, n)
	woke := make(chan Wake[string, int], n)
	for i := range waiters {
		waiters[i] = newTwoChans()
		waiters[i].woke = woke
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, w := range waiters {
			ps.Park(w)
		}
		for _, w := range waiters {
			w.a <- "v"
		}
		for range n {
			<-woke
		}
	}
	b.StopTimer()
	ps.Wait()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/wake")
}

// TestPairsSelectCoversTheGroup: the generated select (pairs_select.go)
// has a case for each of a group's PairsPerGroup waiters' two channels, so
// that a change of PairsPerGroup without `go generate` fails here rather
// than leaving waiters that are never woken.
func TestPairsSelectCoversTheGroup(t *testing.T) {
	src, err := os.ReadFile("pairs_select.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"as", "bs"} {
		for i := range PairsPerGroup + 1 {
			has := strings.Contains(string(src), fmt.Sprintf("<-%s[%d]:", ch, i))
			if has != (i < PairsPerGroup) {
				t.Fatalf("pairs_select.go: a case for %s[%d]: %v, want %v (run go generate)", ch, i, has, i < PairsPerGroup)
			}
		}
	}
}
