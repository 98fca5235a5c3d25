package tlsrec

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
)

// Record sizes (RFC 8446 section 5).
const (
	HeaderLen = 5 // type(1) legacy_record_version(2) length(2)
	// MaxPlaintext is the most content one record carries.
	MaxPlaintext = 1 << 14
	// MaxCiphertext is the longest protected record body: the content,
	// its inner type, padding and the AEAD tag together.
	MaxCiphertext = MaxPlaintext + 256
	// MaxRecord is the longest record, header included.
	MaxRecord = HeaderLen + MaxCiphertext
	// Overhead is what sealing adds to one record's content: the header,
	// the inner content type and the 16-byte tag of every suite.
	Overhead = HeaderLen + 1 + tagLen

	tagLen = 16
	ivLen  = 12
)

// ContentType is a record's type (RFC 8446 section 5.1).
type ContentType uint8

const (
	TypeChangeCipherSpec ContentType = 20 // the handshake's middlebox-compatibility record
	TypeAlert            ContentType = 21 // level(1) description(1)
	TypeHandshake        ContentType = 22 // handshake messages: type(1) length(3) body
	TypeApplicationData  ContentType = 23 // every protected record's outer type
)

// Post-handshake message types.
const (
	msgNewSessionTicket = 4  // to a client: a resumption ticket (ignored)
	msgKeyUpdate        = 24 // request_update(1): 0 not requested, 1 requested
)

// maxUseless bounds the records in a row that carry nothing to the caller
// (empty application data, KeyUpdate, session tickets, user_canceled), as
// crypto/tls's maxUselessRecords does: a peer cannot keep a connection
// busy re-keying or opening empty records.
const maxUseless = 16

// maxMessage bounds a post-handshake message reassembled across records
// (crypto/tls's maxHandshake).
const maxMessage = 1 << 16

// Role says which side of the connection the record layer is.
type Role uint8

const (
	Server Role = iota // reads the client's records
	Client             // reads the server's: session tickets are allowed
)

// dir is one direction's protection: the traffic secret (kept to derive
// the next one at a KeyUpdate, and the key when the AEAD is built), the
// IV derived from it, the sequence number, and the AEAD, built when first
// needed and dropped again by Release or Idle. The key is not kept: it is
// derived again (one HKDF-Expand, about a microsecond) whenever the AEAD
// is built, which saves 64 bytes per connection.
type dir struct {
	aead   cipher.AEAD
	seq    uint64
	secret [maxSecret]byte
	iv     [ivLen]byte
	used   bool // since the last Idle
	recent bool // used between the two Idles before: the direction is busy
}

// Conn is the TLS 1.3 record layer of one connection after its handshake:
// the two directions' secrets, keys and sequence numbers, and nothing that
// does I/O. The caller hands Open the bytes it read and writes what Seal
// and AppendAlert appended. Not safe for concurrent use: a connection's
// record layer belongs to its event loop.
//
// Memory. A Conn is 192 bytes with no AEAD built. An AEAD is built on the
// first record of its direction; a busy direction keeps it, an idle one
// frees it at the end of the event (Release) or at the next Idle: an idle
// connection holds its keys, not the 2.5 KB of a pair of AES-GCM AEADs
// (see HeldAEAD).
type Conn struct {
	in, out dir
	suite   uint8 // 1 + index in suites; 0 before Init
	role    Role
	useless uint8 // records in a row that carried no application data
	// answer is set by a KeyUpdate asking for ours: the next Seal (or
	// AppendKeyUpdate) sends it before any application data.
	answer bool
	closed bool    // close_notify received
	frag   *[]byte // a post-handshake message split across records, rarely
}

// Init sets c up for a connection whose handshake negotiated suite (a TLS
// 1.3 cipher suite ID), with the traffic secrets of the two directions:
// for a server, in is CLIENT_TRAFFIC_SECRET_0 and out
// SERVER_TRAFFIC_SECRET_0; for a client the reverse. Both sequence
// numbers start at 0. The secrets are copied.
func (c *Conn) Init(role Role, suiteID uint16, in, out []byte) error {
	i := suiteIndex(suiteID)
	if i == 0 {
		return errors.New("tlsrec: not a TLS 1.3 cipher suite")
	}
	*c = Conn{suite: i, role: role}
	s := c.s()
	if len(in) != s.hashLen || len(out) != s.hashLen {
		return errors.New("tlsrec: traffic secret of the wrong length")
	}
	copy(c.in.secret[:], in)
	copy(c.out.secret[:], out)
	if err := c.in.derive(s); err != nil {
		return err
	}
	return c.out.derive(s)
}

// Ready reports whether Init has set c up.
func (c *Conn) Ready() bool { return c.suite != 0 }

// Suite is the negotiated cipher suite's ID.
func (c *Conn) Suite() uint16 {
	if c.suite == 0 {
		return 0
	}
	return c.s().id
}

// Wipe clears the secrets and keys, and drops the AEADs.
func (c *Conn) Wipe() { *c = Conn{} }

func (c *Conn) s() *suite { return &suites[c.suite-1] }

// derive sets the IV from the secret, resets the sequence number and
// drops the AEAD built from the old key (RFC 8446 section 7.3).
func (d *dir) derive(s *suite) error {
	secret := d.secret[:s.hashLen]
	if err := s.expandLabel(d.iv[:], secret, "iv", ivLen); err != nil {
		return err
	}
	d.seq = 0
	d.aead = nil
	return nil
}

// update moves the direction to the next traffic secret (KeyUpdate).
func (d *dir) update(s *suite) error {
	var next [maxSecret]byte
	if err := s.expandLabel(next[:s.hashLen], d.secret[:s.hashLen], "traffic upd", s.hashLen); err != nil {
		return err
	}
	d.secret = next
	return d.derive(s)
}

// get returns the direction's AEAD, building it if needed, with the nonce
// of its next record in d.iv: the sequence number, big-endian,
// left-padded to 12 bytes, xor the IV. The caller seals or opens one
// record, then calls done. (The nonce is made in the IV itself, not in a
// local array, which passed to the AEAD's interface method would escape
// to the heap on every record.)
func (d *dir) get(s *suite) (cipher.AEAD, error) {
	if d.aead == nil {
		var key [32]byte
		if s.expandLabel(key[:s.keyLen], d.secret[:s.hashLen], "key", s.keyLen) != nil {
			return nil, errInternal
		}
		a, err := s.aead(key[:s.keyLen])
		clear(key[:])
		if err != nil {
			return nil, errInternal
		}
		d.aead = a
	}
	if d.seq == math.MaxUint64 {
		// A record may never reuse a sequence number; 2^64 records
		// cannot happen, but the number must not wrap.
		return nil, errInternal
	}
	d.used = true
	d.xorSeq()
	return d.aead, nil
}

// done restores the IV after a record and moves to the next sequence
// number.
func (d *dir) done() {
	d.xorSeq()
	d.seq++
}

func (d *dir) xorSeq() {
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], d.seq)
	for i := range seq {
		d.iv[4+i] ^= seq[i]
	}
}

// HeldAEAD is the heap the connection's AEADs keep now, as allocated: 0
// when both were dropped by Idle.
func (c *Conn) HeldAEAD() int {
	if c.suite == 0 {
		return 0
	}
	n := 0
	if c.in.aead != nil {
		n += c.s().held
	}
	if c.out.aead != nil {
		n += c.s().held
	}
	return n
}

// Idle is called at a steady rate (the engine's timer sweep): it notes
// which directions were used since its previous call (busy ones keep
// their AEADs), and drops the AEAD of each direction that was not, so an
// idle connection holds its keys only. It reports whether an AEAD was
// dropped.
func (c *Conn) Idle() bool {
	dropped := false
	for _, d := range [2]*dir{&c.in, &c.out} {
		d.recent, d.used = d.used, false
		if !d.recent && d.aead != nil {
			d.aead = nil
			dropped = true
		}
	}
	return dropped
}

// Release drops, at the end of an event, the AEAD of each direction that
// was not busy before it (see Idle): a connection that exchanges a record
// now and then (a ping every 30 s) builds an AEAD for the record and
// frees it at once, rather than holding it until the next Idle, so that
// many such connections at the same moment (one ping sent to all) do not
// hold an AEAD each. A busy connection keeps its AEADs from Idle to Idle.
// It reports whether an AEAD was dropped.
func (c *Conn) Release() bool {
	dropped := false
	for _, d := range [2]*dir{&c.in, &c.out} {
		if !d.recent && d.aead != nil {
			d.aead = nil
			dropped = true
		}
	}
	return dropped
}

// Closed reports whether the peer has sent close_notify.
func (c *Conn) Closed() bool { return c.closed }

// OpenResult is what Open found in the records it consumed.
type OpenResult struct {
	// Data is the application data of the records, in order, moved
	// together at the start of the buffer given to Open: it aliases that
	// buffer and is valid as long as it is.
	Data []byte
	// N is how many bytes of the buffer the records took: the caller
	// discards them. A record not yet complete is left for the next call.
	N int
	// KeyUpdates counts the KeyUpdate messages received (the read key has
	// moved on each time). If one asked for an update, NeedKeyUpdate is
	// true until Seal or AppendKeyUpdate answered it.
	KeyUpdates int
}

// Open decrypts, in place, the complete records at the start of buf and
// returns their application data (see OpenResult). It stops early at
// close_notify, returning io.EOF with the data before it (Closed then
// reports true), and at the first bad record, returning an *AlertError
// with the data before it: a local one (the record failed to decrypt,
// was too long, or broke the protocol; seal its Alert with AppendAlert and
// close), or the peer's fatal alert (Remote). After an error the
// connection must be closed. Open allocates nothing, except an AEAD after
// Init, a KeyUpdate or Idle, and the buffer of a post-handshake message
// split across records.
func (c *Conn) Open(buf []byte) (res OpenResult, err error) {
	if c.suite == 0 {
		return res, errInternal
	}
	w := 0 // application data so far, at buf[:w]
	for !c.closed {
		off := res.N
		if len(buf)-off < HeaderLen {
			break
		}
		hdr := buf[off : off+HeaderLen]
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		if n > MaxCiphertext {
			err = errOverflow
			break
		}
		if len(buf)-off-HeaderLen < n {
			break // not complete yet
		}
		if ContentType(hdr[0]) != TypeApplicationData {
			// Every record after the handshake is protected (RFC 8446
			// section 5): a plain alert, a change_cipher_spec after the
			// peer's Finished, a handshake record are all unexpected.
			err = errUnexpected
			break
		}
		body := buf[off+HeaderLen : off+HeaderLen+n]
		var pt []byte
		var typ ContentType
		if pt, typ, err = c.openRecord(hdr, body); err != nil {
			break
		}
		res.N = off + HeaderLen + n
		switch typ {
		case TypeApplicationData:
			if c.frag != nil {
				// Handshake messages must not be interleaved with
				// other record types (RFC 8446 section 5.1).
				err = errUnexpected
			} else if len(pt) == 0 {
				err = c.uselessRecord()
			} else {
				c.useless = 0
				w += copy(buf[w:], pt) // w <= off: moves data left, never over an unread record
			}
		case TypeAlert:
			err = c.alert(pt)
		case TypeHandshake:
			var ku int
			ku, err = c.handshake(pt)
			res.KeyUpdates += ku
		default:
			err = errUnexpected
		}
		if err != nil {
			break
		}
	}
	res.Data = buf[:w]
	if err == nil && c.closed {
		err = io.EOF
	}
	return res, err
}

// openRecord decrypts one record's body in place and returns its content
// and inner type, padding removed.
func (c *Conn) openRecord(hdr, body []byte) ([]byte, ContentType, error) {
	a, err := c.in.get(c.s())
	if err != nil {
		return nil, 0, err
	}
	pt, err := a.Open(body[:0], c.in.iv[:], body, hdr)
	c.in.done()
	if err != nil {
		return nil, 0, errBadMAC
	}
	if len(pt) > MaxPlaintext+1 {
		return nil, 0, errOverflow
	}
	// The content type is the last non-zero byte; zeros after it are
	// padding (RFC 8446 section 5.4). All zeros: no type at all.
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, 0, errUnexpected
	}
	return pt[:i], ContentType(pt[i]), nil
}

// uselessRecord counts a record that carried nothing to the caller.
func (c *Conn) uselessRecord() error {
	c.useless++
	if c.useless > maxUseless {
		return errUnexpected
	}
	return nil
}

// alert handles a received alert: close_notify closes, user_canceled is
// ignored, anything else is the peer's fatal error.
func (c *Conn) alert(pt []byte) error {
	if c.frag != nil || len(pt) != 2 {
		return errUnexpected
	}
	switch Alert(pt[1]) {
	case AlertCloseNotify:
		c.closed = true
		return nil
	case AlertUserCanceled:
		return c.uselessRecord()
	}
	return remoteAlertErrs[pt[1]]
}

// handshake handles the post-handshake messages of one record: KeyUpdate,
// and, for a client, NewSessionTicket (ignored: the bench never resumes).
// It returns the KeyUpdates seen.
func (c *Conn) handshake(pt []byte) (int, error) {
	if len(pt) == 0 {
		return 0, errUnexpected
	}
	msgs := pt
	if c.frag != nil {
		*c.frag = append(*c.frag, pt...)
		msgs = *c.frag
	}
	keyUpdates := 0
	for len(msgs) > 0 {
		if len(msgs) < 4 {
			break // the rest of the message is in a later record
		}
		n := int(msgs[1])<<16 | int(msgs[2])<<8 | int(msgs[3])
		if n > maxMessage {
			return keyUpdates, errUnexpected
		}
		if 4+n > len(msgs) {
			break
		}
		typ, body := msgs[0], msgs[4:4+n]
		msgs = msgs[4+n:]
		if err := c.uselessRecord(); err != nil {
			return keyUpdates, err
		}
		switch {
		case typ == msgKeyUpdate:
			if n != 1 {
				return keyUpdates, errDecode
			}
			if body[0] > 1 {
				return keyUpdates, errIllegal
			}
			if len(msgs) > 0 {
				// Handshake messages must not span a key change (RFC
				// 8446 section 5.1): the KeyUpdate ends its record.
				return keyUpdates, errUnexpected
			}
			if err := c.in.update(c.s()); err != nil {
				return keyUpdates, err
			}
			keyUpdates++
			if body[0] == 1 {
				c.answer = true
			}
		case typ == msgNewSessionTicket && c.role == Client:
		default:
			return keyUpdates, errUnexpected
		}
	}
	switch {
	case len(msgs) == 0:
		c.frag = nil
	case c.frag == nil:
		b := slices.Clone(msgs)
		c.frag = &b
	default:
		*c.frag = append((*c.frag)[:0], msgs...)
	}
	return keyUpdates, nil
}

// NeedKeyUpdate reports whether the peer asked for a KeyUpdate that has
// not been answered yet. Seal answers it before the first application
// data it seals; a caller with nothing to send calls AppendKeyUpdate.
func (c *Conn) NeedKeyUpdate() bool { return c.answer }

// Seal appends to dst the records carrying the concatenation of data as
// application data, each record at most MaxPlaintext bytes of it, sealed
// in dst itself: with cap(dst)-len(dst) at least SealedLen of the data,
// Seal allocates nothing (except an AEAD after Init, a KeyUpdate or
// Idle). A KeyUpdate the peer asked for goes first. Seal packs
// consecutive buffers into as few records as they fit.
func (c *Conn) Seal(dst []byte, data ...[]byte) ([]byte, error) {
	if c.suite == 0 {
		return dst, errInternal
	}
	var err error
	if c.answer {
		if dst, err = c.AppendKeyUpdate(dst, false); err != nil {
			return dst, err
		}
	}
	start, fill := -1, 0 // the record being filled: its header's offset, its content bytes
	for _, b := range data {
		for len(b) > 0 {
			if start < 0 {
				start = len(dst)
				dst = append(dst, 0, 0, 0, 0, 0)
				fill = 0
			}
			k := min(len(b), MaxPlaintext-fill)
			dst = append(dst, b[:k]...)
			fill += k
			b = b[k:]
			if fill == MaxPlaintext {
				if dst, err = c.seal(dst, start, TypeApplicationData); err != nil {
					return dst, err
				}
				start = -1
			}
		}
	}
	if start >= 0 {
		dst, err = c.seal(dst, start, TypeApplicationData)
	}
	return dst, err
}

// SealedLen is the length of the records Seal makes of n bytes.
func SealedLen(n int) int {
	if n == 0 {
		return 0
	}
	return n + (n+MaxPlaintext-1)/MaxPlaintext*(Overhead)
}

// seal protects the record whose header is reserved at dst[start:] and
// whose content follows it up to len(dst): it appends the inner type,
// writes the header and seals the content in place (the tag grows dst).
func (c *Conn) seal(dst []byte, start int, typ ContentType) ([]byte, error) {
	dst = append(dst, byte(typ))
	dst = slices.Grow(dst, tagLen)
	n := len(dst) - start - HeaderLen + tagLen
	hdr := dst[start : start+HeaderLen]
	hdr[0], hdr[1], hdr[2] = byte(TypeApplicationData), 3, 3
	binary.BigEndian.PutUint16(hdr[3:], uint16(n))
	a, err := c.out.get(c.s())
	if err != nil {
		return dst[:start], err
	}
	pt := dst[start+HeaderLen:]
	ct := a.Seal(pt[:0], c.out.iv[:], pt, hdr)
	c.out.done()
	return dst[:start+HeaderLen+len(ct)], nil
}

// AppendAlert appends a sealed alert record: close_notify at warning
// level, anything else fatal.
func (c *Conn) AppendAlert(dst []byte, a Alert) ([]byte, error) {
	if c.suite == 0 {
		return dst, errInternal
	}
	level := byte(2)
	if a == AlertCloseNotify || a == AlertUserCanceled {
		level = 1
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, level, byte(a))
	return c.seal(dst, start, TypeAlert)
}

// AppendKeyUpdate appends a sealed KeyUpdate (asking the peer for its own
// when request is set) and moves the write key on (RFC 8446 section
// 4.6.3). A pending answer to the peer's request is this one.
func (c *Conn) AppendKeyUpdate(dst []byte, request bool) ([]byte, error) {
	if c.suite == 0 {
		return dst, errInternal
	}
	req := byte(0)
	if request {
		req = 1
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, msgKeyUpdate, 0, 0, 1, req)
	dst, err := c.seal(dst, start, TypeHandshake)
	if err != nil {
		return dst, err
	}
	c.answer = false
	return dst, c.out.update(c.s())
}
