package cluster

// Subscribed reports whether the server knows this node's interest in
// room.
func (n *Node) Subscribed(room string) bool {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	return n.subscribed[room]
}
