package bench

import "math/rand/v2"

// Whisper targets. The chat names users itself (user0, user1, ...) and does
// not tell a user its name, so the bench learns names from what the chat
// relays: a broadcast "[userK]: #wsbB<sender>..." ties user index sender to
// "userK". Whisperers then pick among the learned names, which are the
// talkers'.

// learnName records user id's chat name from a broadcast p whose bench
// header is at offset at. The common case (already known) is one atomic load.
func (w *worker) learnName(id int, p []byte, at int) {
	if id < 0 || id >= len(w.names) || w.names[id].Load() != nil {
		return
	}
	name := senderName(p, at)
	if name == nil {
		return
	}
	cp := append([]byte(nil), name...)
	if w.names[id].CompareAndSwap(nil, &cp) {
		w.namesMu.Lock()
		w.named = append(w.named, id)
		w.namesMu.Unlock()
	}
}

// pickName returns a random other user with a known name, its index and
// name, or a nil name. With Config.Islands the user must be on self's URL:
// no other can be told.
func (w *worker) pickName(rng *rand.Rand, self int) (int, []byte) {
	w.namesMu.Lock()
	defer w.namesMu.Unlock()
	if len(w.named) == 0 {
		return 0, nil
	}
	for range 4 {
		id := w.named[rng.IntN(len(w.named))]
		if id != self && (!w.cfg.Islands || w.cfg.NodeOf(id) == w.cfg.NodeOf(self)) {
			return id, *w.names[id].Load()
		}
	}
	return 0, nil
}
