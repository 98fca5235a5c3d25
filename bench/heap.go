package bench

// sendHeap orders scheduled senders by their next send time: a binary
// min-heap on c.next with positions in c.hidx, so a loop with thousands of
// mostly idle talkers looks at only the ones that are due.
type sendHeap struct{ a []*conn }

func (h *sendHeap) len() int     { return len(h.a) }
func (h *sendHeap) min() *conn   { return h.a[0] }
func (h *sendHeap) push(c *conn) { c.hidx = len(h.a); h.a = append(h.a, c); h.up(c.hidx) }

// due returns the scheduled sender due first if it is due at now (nil if
// none is), dropping the ones no longer open on the way.
func (h *sendHeap) due(now int64) *conn {
	for len(h.a) > 0 {
		c := h.a[0]
		if c.state != stateOpen {
			h.remove(c)
			continue
		}
		if c.next > now {
			return nil
		}
		return c
	}
	return nil
}

func (h *sendHeap) fix(c *conn) {
	if !h.down(c.hidx) {
		h.up(c.hidx)
	}
}

func (h *sendHeap) remove(c *conn) {
	i, last := c.hidx, len(h.a)-1
	if i != last {
		h.swap(i, last)
	}
	h.a[last] = nil
	h.a = h.a[:last]
	c.hidx = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *sendHeap) swap(i, j int) {
	h.a[i], h.a[j] = h.a[j], h.a[i]
	h.a[i].hidx, h.a[j].hidx = i, j
}

func (h *sendHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.a[p].next <= h.a[i].next {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *sendHeap) down(i0 int) bool {
	i := i0
	for {
		l := 2*i + 1
		if l >= len(h.a) {
			break
		}
		j := l
		if r := l + 1; r < len(h.a) && h.a[r].next < h.a[l].next {
			j = r
		}
		if h.a[i].next <= h.a[j].next {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
