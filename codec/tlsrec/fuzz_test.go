package tlsrec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"testing"
)

// FuzzOpen runs the record parser and opener on two kinds of input: a
// record sealed with the right key around fuzzed content of a fuzzed inner
// type and padding (the post-decryption parser: alerts, handshake messages,
// KeyUpdate), followed by fuzzed raw bytes (headers, lengths, garbage). The
// stream is opened in one read and in two split at a fuzzed point: both
// must give the same data and the same error, and nothing may panic.
func FuzzOpen(f *testing.F) {
	cli, srv := pairConns(f, tls.TLS_AES_128_GCM_SHA256)
	f.Add([]byte("hello"), byte(TypeApplicationData), uint8(0), []byte(nil), uint16(3))
	f.Add([]byte{24, 0, 0, 1, 1}, byte(TypeHandshake), uint8(4), []byte(nil), uint16(10))
	f.Add([]byte{24, 0}, byte(TypeHandshake), uint8(0), []byte{23, 3, 3, 0, 20}, uint16(30))
	f.Add([]byte{1, 0}, byte(TypeAlert), uint8(0), []byte("trailing"), uint16(1))
	f.Add([]byte{}, byte(TypeApplicationData), uint8(200), []byte{23, 3, 3, 0x41, 0x01}, uint16(40))
	f.Fuzz(func(t *testing.T, content []byte, typ byte, pad uint8, raw []byte, split uint16) {
		sender := *cli
		s := appendRaw(t, &sender, nil, ContentType(typ), content, int(pad))
		if s2, err := sender.Seal(s, []byte("next")); err == nil {
			s = s2
		}
		s = append(s, raw...)

		one := *srv
		whole, errWhole := one.Open(bytes.Clone(s))

		two := *srv
		k := int(split) % (len(s) + 1)
		buf := bytes.Clone(s[:k])
		res, err := two.Open(buf)
		got := bytes.Clone(res.Data)
		if err == nil {
			buf = append(buf[:0], buf[res.N:]...)
			buf = append(buf, s[k:]...)
			res, err = two.Open(buf)
			got = append(got, res.Data...)
		}
		if !bytes.Equal(got, whole.Data) {
			t.Fatalf("split at %d: data %q, in one read %q", k, got, whole.Data)
		}
		var a1, a2 *AlertError
		if errors.As(errWhole, &a1) != errors.As(err, &a2) || (a1 != nil && *a1 != *a2) || (a1 == nil && err != errWhole) {
			t.Fatalf("split at %d: %v, in one read %v", k, err, errWhole)
		}
	})
}
