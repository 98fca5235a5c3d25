package codec_test

import (
	"testing"

	"edgews/codec"
)

const (
	respPlain = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	resp12    = respPlain + "; server_max_window_bits=12"
)

func TestNegotiateDeflate(t *testing.T) {
	tests := []struct {
		name   string
		header string
		resp   string // "" declined
		bits   uint8
	}{
		// Real offers, as captured from the clients.
		{name: "chromium", header: "permessage-deflate; client_max_window_bits", resp: respPlain, bits: 15},
		{name: "firefox", header: "permessage-deflate", resp: respPlain, bits: 15},
		{name: "gorilla", header: "permessage-deflate; server_no_context_takeover; client_no_context_takeover", resp: respPlain, bits: 15},
		{name: "python websockets 10", header: "permessage-deflate; client_max_window_bits", resp: respPlain, bits: 15},
		{name: "python websockets 14", header: "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12", resp: resp12, bits: 12},
		{name: "nodejs ws", header: "permessage-deflate; client_max_window_bits", resp: respPlain, bits: 15},

		// Forms of parameters.
		{name: "no spaces", header: "permessage-deflate;client_max_window_bits;server_no_context_takeover", resp: respPlain, bits: 15},
		{name: "case", header: "Permessage-Deflate; Client_Max_Window_Bits", resp: respPlain, bits: 15},
		{name: "quoted value", header: `permessage-deflate; server_max_window_bits="12"`, resp: resp12, bits: 12},
		{name: "client bits value", header: "permessage-deflate; client_max_window_bits=9", resp: respPlain, bits: 15},
		{name: "server bits 15", header: "permessage-deflate; server_max_window_bits=15", resp: respPlain + "; server_max_window_bits=15", bits: 15},
		{name: "server bits 8", header: "permessage-deflate; server_max_window_bits=8", resp: respPlain + "; server_max_window_bits=8", bits: 8},
		{name: "trailing semicolon", header: "permessage-deflate;", resp: respPlain, bits: 15},

		// Several offers, in order of the client's preference.
		{name: "first acceptable of several", header: "permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits", resp: respPlain, bits: 15},
		{name: "first wins", header: "permessage-deflate; server_max_window_bits=12, permessage-deflate", resp: resp12, bits: 12},
		{name: "other extension first", header: "x-webkit-deflate-frame, permessage-deflate", resp: respPlain, bits: 15},
		{name: "other extension with quoted comma", header: `foo; bar="a,b", permessage-deflate`, resp: respPlain, bits: 15},

		// Declines: never an error, just no extension.
		{name: "empty", header: ""},
		{name: "other extension only", header: "x-webkit-deflate-frame"},
		{name: "unknown parameter", header: "permessage-deflate; foo"},
		{name: "duplicate parameter", header: "permessage-deflate; server_no_context_takeover; server_no_context_takeover"},
		{name: "duplicate client bits", header: "permessage-deflate; client_max_window_bits; client_max_window_bits=10"},
		{name: "value on a flag", header: "permessage-deflate; client_no_context_takeover=1"},
		{name: "server bits without value", header: "permessage-deflate; server_max_window_bits"},
		{name: "server bits too small", header: "permessage-deflate; server_max_window_bits=7"},
		{name: "server bits too large", header: "permessage-deflate; server_max_window_bits=16"},
		{name: "client bits not a number", header: "permessage-deflate; client_max_window_bits=x"},
		{name: "leading zero", header: "permessage-deflate; server_max_window_bits=09"},
		{name: "unclosed quote", header: `permessage-deflate; server_max_window_bits="12`},
		{name: "unclosed quote hides later offers", header: `foo; a="x, permessage-deflate`},
		{name: "escape in value", header: `permessage-deflate; server_max_window_bits="1\2"`},
		{name: "empty parameter", header: "permessage-deflate;; client_max_window_bits"},
		{name: "name prefix", header: "permessage-deflatex"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := codec.NegotiateDeflate(tc.header)
			if d.Response != tc.resp || d.Accepted() != (tc.resp != "") {
				t.Fatalf("NegotiateDeflate(%q) = %q, want %q", tc.header, d.Response, tc.resp)
			}
			if d.WindowBits != tc.bits {
				t.Fatalf("WindowBits = %d, want %d", d.WindowBits, tc.bits)
			}
		})
	}
}

func TestNegotiateDeflateZeroAlloc(t *testing.T) {
	h := "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=12; client_max_window_bits"
	if n := testing.AllocsPerRun(100, func() { codec.NegotiateDeflate(h) }); n != 0 {
		t.Fatalf("NegotiateDeflate allocates %v times", n)
	}
}
