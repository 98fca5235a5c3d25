package compare

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestWaitReady(t *testing.T) {
	many := make([]string, 30)
	for i := range many {
		many[i] = fmt.Sprintf("line %d", i)
	}
	tests := []struct {
		name    string
		out     string
		pid     int
		wantErr []string // substrings of the error; nil: no error
		notErr  []string // substrings the error must not hold
	}{
		{name: "node ready line", out: "starting\nlistening on 127.0.0.1:4000 pid 1234\nmore\n", pid: 1234},
		{name: "peer ready line", out: "msg=\"listening\" listening addr=127.0.0.1:4001 pid=77\n", pid: 77},
		{name: "exits with a reason", out: "wsnode: listen tcp :1: bind: permission denied\n",
			wantErr: []string{"exited before it listened", "bind: permission denied"}},
		{name: "exits silently", out: "", wantErr: []string{"printing nothing"}},
		{name: "keeps only the last lines", out: strings.Join(many, "\n") + "\n",
			wantErr: []string{"line 10\n", "line 29"}, notErr: []string{"line 9\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, err := waitReady(context.Background(), strings.NewReader(tt.out), 5*time.Second)
			if tt.wantErr == nil {
				if err != nil || pid != tt.pid {
					t.Fatalf("waitReady = %d, %v; want %d, nil", pid, err, tt.pid)
				}
				return
			}
			if err == nil {
				t.Fatalf("waitReady = %d, nil; want an error", pid)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error()+"\n", s) {
					t.Errorf("error %q does not hold %q", err, s)
				}
			}
			for _, s := range tt.notErr {
				if strings.Contains(err.Error()+"\n", s) {
					t.Errorf("error %q holds %q", err, s)
				}
			}
		})
	}
}
