package engine

import (
	"errors"
	"testing"
)

// countTask counts its runs and its Done calls.
type countTask struct{ runs, dones *int }

func (t countTask) Run(*Loop) { *t.runs++ }
func (t countTask) Done()     { *t.dones++ }

// PostLimit queues a task only while fewer than limit wait for the loop;
// a refused task is Done at once and never runs, and the loop's queue
// stays at the limit however many are posted. Post is unaffected.
func TestPostLimit(t *testing.T) {
	p := NewInProc(Config{}, 1)
	l := p.loops[0]
	var runs, dones int
	const limit, posted = 3, 10
	refused := 0
	for range posted {
		err := l.PostLimit(countTask{&runs, &dones}, limit)
		switch {
		case errors.Is(err, ErrLoopBehind):
			refused++
		case err != nil:
			t.Fatalf("PostLimit: %v", err)
		}
	}
	if refused != posted-limit || dones != refused || runs != 0 {
		t.Fatalf("refused %d, done %d, run %d; want %d refused and done, none run yet", refused, dones, runs, posted-limit)
	}
	if err := l.Post(countTask{&runs, &dones}); err != nil {
		t.Fatalf("Post past the limit: %v", err)
	}
	p.Drain()
	if runs != limit+1 || dones != posted+1 {
		t.Fatalf("after the loop ran: %d runs, %d dones; want %d and %d", runs, dones, limit+1, posted+1)
	}
	// The loop caught up: PostLimit queues again.
	if err := l.PostLimit(countTask{&runs, &dones}, limit); err != nil {
		t.Fatalf("PostLimit after the loop ran: %v", err)
	}
	p.Drain()
	if runs != limit+2 {
		t.Fatalf("runs %d, want %d", runs, limit+2)
	}
}
