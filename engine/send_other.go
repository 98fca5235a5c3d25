//go:build !linux

package engine

// sendDirect leaves every write to gnet where send(2) is not used (see
// send_linux.go).
func (c *Conn) sendDirect(iov [][]byte) [][]byte { return iov }
