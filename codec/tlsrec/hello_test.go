package tlsrec

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// clientHello is what crypto/tls's client sends first.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _ = tls.Client(a, &tls.Config{ServerName: "localhost"}).Handshake() }()
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestScanHello(t *testing.T) {
	hello := clientHello(t)
	if got := ScanHello(hello); got != HelloComplete {
		t.Fatalf("a whole ClientHello: %d", got)
	}
	if RecordsLen(hello) != len(hello) {
		t.Fatalf("RecordsLen %d of %d", RecordsLen(hello), len(hello))
	}
	for k := range len(hello) {
		if got := ScanHello(hello[:k]); got != HelloPartial {
			t.Fatalf("first %d of %d bytes: %d, want partial", k, len(hello), got)
		}
	}
	// The same message in three records.
	msg := hello[HeaderLen:]
	var split []byte
	for _, part := range [][]byte{msg[:2], msg[2:100], msg[100:]} {
		split = append(split, 22, 3, 1, byte(len(part)>>8), byte(len(part)))
		split = append(split, part...)
	}
	for k := range len(split) {
		if got := ScanHello(split[:k]); got != HelloPartial {
			t.Fatalf("split hello, first %d bytes: %d, want partial", k, got)
		}
	}
	if got := ScanHello(split); got != HelloComplete || RecordsLen(split) != len(split) {
		t.Fatalf("split hello: %d", got)
	}

	for _, tt := range []struct {
		name string
		in   string
		want Hello
	}{
		{"GET", "GET / HTTP/1.1\r\n", HelloHTTP},
		{"partial method", "OPTIO", HelloPartial},
		{"PRI", "PRI * HTTP/2.0\r\n", HelloHTTP},
		{"lower case", "get / HTTP/1.1", HelloNotTLS},
		{"long word", "ABCDEFGHIJKL ", HelloNotTLS},
		{"SSLv2", "\x80\x2e\x01\x00\x02", HelloSSLv2},
		{"alert first", "\x15\x03\x01\x00\x02\x02\x28", HelloNotTLS},
		{"ServerHello", "\x16\x03\x03\x00\x04\x02\x00\x00\x00", HelloNotTLS},
		{"record over 2^14", "\x16\x03\x01\x40\x01\x01", HelloOverflow},
		{"hello over 64 KiB", "\x16\x03\x01\x00\x04\x01\x01\x00\x01", HelloOverflow},
		{"empty record", "\x16\x03\x01\x00\x00", HelloNotTLS},
		{"zeros", "\x00\x00\x00\x00\x00\x00", HelloNotTLS},
	} {
		if got := ScanHello([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	if !bytes.Equal(PlainAlert(AlertProtocolVersion), []byte{21, 3, 3, 0, 2, 2, 70}) {
		t.Fatal("PlainAlert")
	}
}

func TestAlertNames(t *testing.T) {
	for a, want := range map[Alert]string{AlertCloseNotify: "close_notify", AlertBadRecordMAC: "bad_record_mac",
		AlertRecordOverflow: "record_overflow", AlertProtocolVersion: "protocol_version", 200: "alert_200"} {
		if got := a.String(); got != want {
			t.Errorf("%d: %q, want %q", a, got, want)
		}
	}
}
