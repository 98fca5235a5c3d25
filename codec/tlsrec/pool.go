package tlsrec

import (
	"sync"
	"sync/atomic"
)

// Pool runs Handshakes on a fixed number of goroutines fed by a bounded
// queue: no goroutine per connection, and a connect storm waits in the
// queue (its bytes in the loops' buffers) instead of starting more
// goroutines. A worker is busy for a handshake's whole exchange, its
// computation and the wait for the peer's next flight, so the handshakes
// in progress are at most the workers.
type Pool struct {
	jobs    chan *Handshake
	wg      sync.WaitGroup
	running atomic.Int64
	peak    atomic.Int64
}

// NewPool starts workers goroutines with room for queue waiting
// handshakes.
func NewPool(workers, queue int) *Pool {
	p := &Pool{jobs: make(chan *Handshake, queue)}
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

// Submit queues h, or reports false when the queue is full. Never blocks.
func (p *Pool) Submit(h *Handshake) bool {
	select {
	case p.jobs <- h:
		return true
	default:
		return false
	}
}

func (p *Pool) work() {
	defer p.wg.Done()
	for h := range p.jobs {
		n := p.running.Add(1)
		for {
			peak := p.peak.Load()
			if n <= peak || p.peak.CompareAndSwap(peak, n) {
				break
			}
		}
		h.run()
		p.running.Add(-1)
	}
}

// Running is the handshakes in progress now; Peak the most at once so
// far; Queued those waiting for a worker.
func (p *Pool) Running() int64 { return p.running.Load() }
func (p *Pool) Peak() int64    { return p.peak.Load() }
func (p *Pool) Queued() int    { return len(p.jobs) }

// Close stops the workers once the queue is empty; Submit must not be
// called any more. Queued handshakes still run (abort them first to make
// that quick).
func (p *Pool) Close() {
	close(p.jobs)
	p.wg.Wait()
}
