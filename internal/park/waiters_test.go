package park

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// chanWaiter waits on one channel and, as a Timed waiter, until due;
// every wake goes to woke.
type chanWaiter struct {
	ch   chan int
	due  time.Time
	woke chan wake
}

type wake struct {
	chosen int
	v      int
}

func (w *chanWaiter) Cases(dst []reflect.SelectCase) []reflect.SelectCase {
	return append(dst, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.ch)})
}

func (w *chanWaiter) Woke(chosen int, v reflect.Value, ok bool) {
	got := wake{chosen: chosen}
	if chosen == 0 && ok {
		got.v = int(v.Int())
	}
	w.woke <- got
}

func (w *chanWaiter) Due() time.Time { return w.due }

// TestStopRacingACase: Stop and a value on the waiter's channel at once,
// 500 times, over groups of several waiters: each waiter is woken exactly
// once, and when it is woken as Stopped the value is still in its channel
// (the group never takes a value it then drops).
func TestStopRacingACase(t *testing.T) {
	ws := &Waiters{PerGroup: 4}
	for run := range 500 {
		const n = 6
		var wg sync.WaitGroup
		waiters := make([]*chanWaiter, n)
		spots := make([]Spot, n)
		for i := range waiters {
			waiters[i] = &chanWaiter{ch: make(chan int, 1), woke: make(chan wake, 2)}
			spots[i] = ws.Park(waiters[i])
		}
		for i, w := range waiters {
			wg.Add(2)
			go func() { defer wg.Done(); w.ch <- run }()
			go func() { defer wg.Done(); ws.Stop(spots[i]) }()
		}
		wg.Wait()
		for i, w := range waiters {
			var got wake
			select {
			case got = <-w.woke:
			case <-time.After(10 * time.Second):
				t.Fatalf("run %d: waiter %d never woke", run, i)
			}
			switch got.chosen {
			case 0:
				if got.v != run {
					t.Fatalf("run %d: waiter %d woke with %d", run, i, got.v)
				}
			case Stopped:
				if len(w.ch) != 1 {
					t.Fatalf("run %d: waiter %d stopped, and its value is gone", run, i)
				}
			default:
				t.Fatalf("run %d: waiter %d woke with case %d", run, i, got.chosen)
			}
		}
		// Once is all: a stale Stop wakes nothing more.
		for i, w := range waiters {
			ws.Stop(spots[i])
			if len(w.woke) != 0 {
				t.Fatalf("run %d: waiter %d woke twice", run, i)
			}
		}
	}
	ws.Wait()
}

// TestTimedWaiters: a group wakes each Timed waiter with Timeout once its
// time has come, and not before; a waiter with no time waits on.
func TestTimedWaiters(t *testing.T) {
	ws := &Waiters{PerGroup: 8}
	start := time.Now()
	woke := make(chan wake, 8)
	var ws4 []*chanWaiter
	for i, d := range []time.Duration{40, 10, 30, 20} {
		w := &chanWaiter{ch: make(chan int, 1), due: start.Add(d * time.Millisecond), woke: make(chan wake, 1)}
		ws4 = append(ws4, w)
		ws.Park(w)
		go func() { g := <-w.woke; g.v = i; woke <- g }()
	}
	never := &chanWaiter{ch: make(chan int, 1), woke: make(chan wake, 1)}
	ws.Park(never)
	var order []int
	for range ws4 {
		select {
		case g := <-woke:
			if g.chosen != Timeout {
				t.Fatalf("woken with case %d", g.chosen)
			}
			if now := time.Now(); now.Before(ws4[g.v].due) {
				t.Fatalf("waiter %d woken %v before its time", g.v, ws4[g.v].due.Sub(now))
			}
			order = append(order, g.v)
		case <-time.After(10 * time.Second):
			t.Fatalf("woken so far: %v", order)
		}
	}
	if len(never.woke) != 0 {
		t.Error("a waiter with no time was woken")
	}
	never.ch <- 1
	if g := <-never.woke; g.chosen != 0 || g.v != 1 {
		t.Errorf("the untimed waiter woke with %+v", g)
	}
	ws.Wait()
}

// BenchmarkWakeAll: 2048 parked waiters of two cases each (as a parked
// write loop's: a sender and a disconnect channel), then a value for every
// one at once, as a broadcast to a room of idle connections sends: the CPU
// per wake, by group size, and with Pairs (32 a group, a select statement
// rather than reflect.Select). Each wake costs its group a select over the
// cases left, so larger groups cost more per wake and fewer goroutines.
func BenchmarkWakeAll(b *testing.B) {
	const n = 2048
	for _, per := range []int{16, 32, 64, 128} {
		b.Run(fmt.Sprintf("perGroup=%d", per), func(b *testing.B) {
			b.ReportAllocs()
			ws := &Waiters{PerGroup: per, CasesEach: 2}
			woke := make(chan wake, n)
			waiters := make([]*pairWaiter, n)
			for i := range waiters {
				waiters[i] = &pairWaiter{a: make(chan int, 1), b: make(chan int, 1), woke: woke}
			}
			b.ResetTimer()
			for range b.N {
				for _, w := range waiters {
					ws.Park(w)
				}
				for _, w := range waiters {
					w.a <- 1
				}
				for range n {
					<-woke
				}
			}
			b.StopTimer()
			ws.Wait()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/wake")
		})
	}
	b.Run("pairs", func(b *testing.B) {
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
	})
}

// pairWaiter waits on two channels, as a parked write loop does.
type pairWaiter struct {
	a, b chan int
	woke chan wake
}

func (w *pairWaiter) Cases(dst []reflect.SelectCase) []reflect.SelectCase {
	return append(dst, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.a)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.b)})
}

func (w *pairWaiter) Woke(chosen int, _ reflect.Value, _ bool) { w.woke <- wake{chosen: chosen} }
