package engine

import "edgews/codec"

// A connection keeps no codec.Decoder while it is idle. Between messages
// a Decoder holds nothing but its configuration (the server's role,
// Deflate, the two limits), which the Conn has in two bytes (zbits, and
// lim: an index into its loop's table of limits), so a read decodes with
// the loop's Decoder, set up for the connection (decoder), and a
// connection gets one of its own only while it has state between reads: a
// fragmented message, a close being drained, a pending error, or a kept
// fragment buffer (releaseDecoder). That took Conn from 208 to 144 bytes:
// an idle node is mostly Conns (README, Idle memory).

// decLimits are the two limits of a connection's Decoder.
type decLimits struct{ frame, message int64 }

// limOwn is a Conn.lim for limits the loop's table had no room for: they
// live in the connection's own Decoder, which it then always keeps.
const limOwn = 255

// limits returns entry i of the loop's table of limits, whose entry 0 is
// the server's. Loop only.
func (l *Loop) limits(i uint8) decLimits {
	if len(l.lims) == 0 {
		l.lims = append(l.lims, decLimits{l.srv.cfg.MaxFrameSize, l.srv.cfg.MaxMessageSize})
	}
	return l.lims[i]
}

// limitIndex returns the index of lim in the loop's table, adding it if
// there is room, or limOwn. Loop only.
func (l *Loop) limitIndex(lim decLimits) uint8 {
	l.limits(0)
	for i, x := range l.lims {
		if x == lim {
			return uint8(i)
		}
	}
	if len(l.lims) == limOwn {
		return limOwn
	}
	l.lims = append(l.lims, lim)
	return uint8(len(l.lims) - 1)
}

// configured is a fresh Decoder set up for c.
func (c *Conn) configured() codec.Decoder {
	lim := c.decLimits()
	return codec.Decoder{Role: codec.RoleServer, Deflate: c.zbits != 0, MaxFrameSize: lim.frame, MaxMessageSize: lim.message}
}

// decLimits are c's limits.
func (c *Conn) decLimits() decLimits {
	if c.lim == limOwn {
		return decLimits{c.dec.MaxFrameSize, c.dec.MaxMessageSize}
	}
	return c.loop.limits(c.lim)
}

// decoder returns the Decoder for c's next bytes: its own if it has one,
// else the loop's, set up for c, which releaseDecoder gives back once the
// read is over. In the rare read within a read (the loop's is taken), c
// gets one of its own. Loop only.
func (c *Conn) decoder() *codec.Decoder {
	if c.dec != nil {
		return c.dec
	}
	l := c.loop
	if l.decConn != nil {
		c.dec = new(codec.Decoder)
		*c.dec = c.configured()
		return c.dec
	}
	l.decConn, l.dec = c, c.configured()
	return &l.dec
}

// releaseDecoder ends a read that decoded with d, from decoder: the
// loop's Decoder is copied into one of c's own if it holds state, and c's
// own is dropped once it holds none. Loop only.
func (c *Conn) releaseDecoder(d *codec.Decoder) {
	l := c.loop
	if d == &l.dec {
		if !d.Idle() || d.BufCap() != 0 {
			c.dec = new(codec.Decoder)
			*c.dec = *d
		}
		l.decConn, l.dec = nil, codec.Decoder{}
		return
	}
	if c.lim != limOwn && d.Idle() && d.BufCap() == 0 {
		c.dec = nil
	}
}

// curDecoder is the Decoder holding c's state now: its own, the loop's
// during a read of c, or nil (idle, nothing held). Loop only.
func (c *Conn) curDecoder() *codec.Decoder {
	if c.dec == nil && c.loop.decConn == c {
		return &c.loop.dec
	}
	return c.dec
}

// heldDecoder is curDecoder, or a new Decoder of c's own, for a change of
// state that must outlast the read (StartDrain). Loop only.
func (c *Conn) heldDecoder() *codec.Decoder {
	if d := c.curDecoder(); d != nil {
		return d
	}
	c.dec = new(codec.Decoder)
	*c.dec = c.configured()
	return c.dec
}

// setLimits sets c's limits (SetMaxFrameSize, SetMaxMessageSize). Loop only.
func (c *Conn) setLimits(lim decLimits) {
	c.lim = c.loop.limitIndex(lim)
	if c.lim == limOwn {
		c.heldDecoder()
	}
	if d := c.curDecoder(); d != nil {
		d.MaxFrameSize, d.MaxMessageSize = lim.frame, lim.message
	}
}

// fragBufCap and fragmented are those of c's Decoder (0 and false while it
// has none): the fragment buffer, for the memory accounting.
func (c *Conn) fragBufCap() int {
	if d := c.curDecoder(); d != nil {
		return d.BufCap()
	}
	return 0
}

func (c *Conn) fragmented() bool {
	d := c.curDecoder()
	return d != nil && d.Fragmented()
}
