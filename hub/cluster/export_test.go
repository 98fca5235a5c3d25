package cluster

// Subscribed reports whether the server knows this node's interest in
// room.
func (n *Node) Subscribed(room string) bool {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	return n.subscribed[room]
}

// Kill makes the node die as kill -9 would, for the other nodes: its
// connection closes without a goodbye (no release, no liveness delete)
// and its liveness key is no longer refreshed. Close must still be
// called, to end its goroutines.
func (n *Node) Kill() {
	n.killed.Store(true)
	n.ready.Store(false)
	n.nc.Close()
}
