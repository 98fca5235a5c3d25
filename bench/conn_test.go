package bench

import (
	"bytes"
	"testing"

	"edgews/codec"
)

// A frame that arrives a byte at a time is consumed only when whole; the
// bytes before stay in the caller's (gnet's) buffer.
func TestConsumeWaitsForWholeFrame(t *testing.T) {
	l, c := testLoop(t, Config{Scenario: Echo, Conns: 1, Payload: 300})
	p := newEchoPayload(300)
	stampEcho(p, nowNanos(), 0)
	frame := codec.AppendFrame(nil, true, codec.OpBinary, p, nil) // 16-bit length header
	for k := 0; k < len(frame); k++ {
		l.out = l.out[:0]
		if n, closed := l.consume(c, frame[:k], nowNanos()); n != 0 || closed || l.st.Received != 0 {
			t.Fatalf("after %d of %d bytes: consumed %d, recv %d", k, len(frame), n, l.st.Received)
		}
	}
	if n, _ := l.consume(c, frame, nowNanos()); n != len(frame) || l.st.Received != 1 {
		t.Fatalf("whole frame: consumed %d, recv %d", n, l.st.Received)
	}
}

// Pings are answered with a masked pong carrying the same payload; a close
// is answered and ends the connection.
func TestConsumeAnswersPingAndClose(t *testing.T) {
	l, c := testLoop(t, Config{Scenario: Chat, Conns: 1})
	in := codec.AppendFrame(nil, true, codec.OpPing, []byte("are you there"), nil)
	l.out = l.out[:0]
	if n, closed := l.consume(c, in, nowNanos()); n != len(in) || closed {
		t.Fatalf("ping: consumed %d, closed %v", n, closed)
	}
	var d codec.Decoder // RoleServer: expects masked frames, as a server would
	ev, n, err := d.Next(l.out)
	if err != nil || n != len(l.out) || ev.Kind != codec.KindPong || !bytes.Equal(ev.Payload, []byte("are you there")) {
		t.Fatalf("answer = %v %d %v %q", ev.Kind, n, err, ev.Payload)
	}

	in = codec.AppendClose(nil, codec.StatusGoingAway, "bye", nil)
	l.out = l.out[:0]
	if n, closed := l.consume(c, in, nowNanos()); n != len(in) || !closed {
		t.Fatalf("close: consumed %d, closed %v", n, closed)
	}
	ev, _, err = d.Next(l.out)
	if err != nil || ev.Kind != codec.KindClose || ev.Code != codec.StatusGoingAway {
		t.Fatalf("close answer = %v %v %v", ev.Kind, ev.Code, err)
	}
}

// A masked frame from the server is a protocol error: closed with 1002.
func TestConsumeRejectsMaskedServerFrame(t *testing.T) {
	l, c := testLoop(t, Config{Scenario: Echo, Conns: 1})
	mask := codec.NewMask()
	in := codec.AppendFrame(nil, true, codec.OpBinary, []byte("12345678"), &mask)
	l.out = l.out[:0]
	if _, closed := l.consume(c, in, nowNanos()); !closed || c.why == nil || c.why.Reason != ReasonProtocol {
		t.Fatalf("closed %v, why %v", closed, c.why)
	}
}
