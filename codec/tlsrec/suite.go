package tlsrec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// suite is one TLS 1.3 cipher suite: its AEAD and the hash of its key
// schedule (RFC 8446 appendix B.4).
type suite struct {
	id      uint16
	keyLen  int
	hashLen int
	hash    func() hash.Hash
	aead    func(key []byte) (cipher.AEAD, error)
	// held is the heap an AEAD of the suite keeps, as allocated (measured
	// with Go 1.26 by TestAEADHeld): what a connection is charged for each
	// AEAD it holds between events.
	held int
}

// The suites, indexed by Conn.suite - 1.
var suites = [...]suite{
	{id: tls.TLS_AES_128_GCM_SHA256, keyLen: 16, hashLen: sha256.Size, hash: sha256.New, aead: newAESGCM, held: aesGCMHeld},
	{id: tls.TLS_AES_256_GCM_SHA384, keyLen: 32, hashLen: sha512.Size384, hash: sha512.New384, aead: newAESGCM, held: aesGCMHeld},
	{id: tls.TLS_CHACHA20_POLY1305_SHA256, keyLen: chacha20poly1305.KeySize, hashLen: sha256.Size, hash: sha256.New, aead: chacha20poly1305.New, held: chachaHeld},
}

// Bytes of heap an AEAD keeps, as allocated: crypto/aes's block and
// crypto/cipher's GCM (two objects, 1,280 B) or x/crypto's ChaCha20-Poly1305
// key (32 B). TestAEADHeld checks them.
const (
	aesGCMHeld = 1280
	chachaHeld = 32
)

// suiteIndex is 1 + the index of id in suites, or 0 when id is not a TLS
// 1.3 suite.
func suiteIndex(id uint16) uint8 {
	for i := range suites {
		if suites[i].id == id {
			return uint8(i + 1)
		}
	}
	return 0
}

func newAESGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// maxSecret is the longest traffic secret: SHA-384's.
const maxSecret = sha512.Size384

// expandLabel is HKDF-Expand-Label(secret, label, "", length) of RFC 8446
// section 7.1, written into out[:length]: the HkdfLabel structure is
// built by hand (uint16 length, "tls13 " + label as a one-byte-length
// vector, an empty context), the expansion is crypto/hkdf's.
func (s *suite) expandLabel(out []byte, secret []byte, label string, length int) error {
	var info [2 + 1 + 6 + 32 + 1]byte
	i := append(info[:0], byte(length>>8), byte(length), byte(6+len(label)))
	i = append(i, "tls13 "...)
	i = append(i, label...)
	i = append(i, 0) // context: empty
	k, err := hkdf.Expand(s.hash, secret, string(i), length)
	if err != nil {
		return err
	}
	copy(out, k)
	clear(k)
	return nil
}
