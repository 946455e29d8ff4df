package hmrc

import (
	"sync"
	"testing"

	"github.com/mtdconnect/mtdconnect"
)

// The per-connection locks are dropped once no one holds or waits for
// them, so a long-running process keeps only the connections in use.
func TestConnLocksDropped(t *testing.T) {
	c := &Client{locks: map[connKey]*connLock{}}
	count := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.locks)
	}
	a := connKey{1, mtdconnect.PurposeIncomeTax}
	held := c.lockConn(a)
	held.Lock()
	var wg sync.WaitGroup
	waiting := make(chan struct{})
	wg.Go(func() {
		l := c.lockConn(a) // waits behind held
		close(waiting)
		l.Lock()
		c.unlockConn(a, l)
	})
	<-waiting
	if n := count(); n != 1 {
		t.Fatalf("%d locks while one connection is in use", n)
	}
	c.unlockConn(a, held) // the waiter still needs the lock
	wg.Wait()
	if n := count(); n != 0 {
		t.Fatalf("%d locks left after use", n)
	}

	// Many connections, many goroutines each: nothing is left behind.
	for u := range int64(50) {
		for range 4 {
			wg.Go(func() {
				k := connKey{u, mtdconnect.PurposeVAT}
				l := c.lockConn(k)
				l.Lock()
				c.unlockConn(k, l)
			})
		}
	}
	wg.Wait()
	if n := count(); n != 0 {
		t.Fatalf("%d locks left after 200 uses of 50 connections", n)
	}
}
