package cluster

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

// ackErr reads JetStream's publish acks as they come from nats-server.
func TestAckErr(t *testing.T) {
	for _, c := range []struct {
		data   string
		status string
		want   error // nil, errLastSeq, nats.ErrNoResponders; other: errOther
	}{
		{data: `{"stream":"KV_edgews_names","seq":12}`},
		{data: `{"stream":"KV_edgews_names","domain":"hub","seq":1}`},
		{data: `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"KV_edgews_names","seq":0}`, want: errLastSeq},
		{data: `{"error":{"code":400,"err_code": 10164,"description":"wrong last sequence"}}`, want: errLastSeq},
		{data: `{"error":{"code":503,"err_code":10039,"description":"jetstream not enabled"}}`, want: errOther},
		{data: `{"error":{"code":500,"description":"no err_code"}}`, want: errOther},
		{status: "503", want: nats.ErrNoResponders},
		{status: "408", want: errOther},
	} {
		m := &nats.Msg{Data: []byte(c.data), Header: nats.Header{}}
		if c.status != "" {
			m.Header.Set("Status", c.status)
		}
		got := ackErr(m)
		switch c.want {
		case errOther:
			if got == nil || errors.Is(got, errLastSeq) || errors.Is(got, nats.ErrNoResponders) {
				t.Errorf("%q %q: %v, want another error", c.data, c.status, got)
			}
		default:
			if !errors.Is(got, c.want) && got != c.want {
				t.Errorf("%q %q: %v, want %v", c.data, c.status, got, c.want)
			}
		}
	}
}

var errOther = errors.New("any other error")
