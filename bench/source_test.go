package bench

import (
	"strings"
	"testing"
)

func TestParseSourceAddrs(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
		err  string
	}{
		{[]string{"127.0.0.2-127.0.0.5"}, "127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5", ""},
		{[]string{"10.0.0.0/29"}, "10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6", ""},
		{[]string{"10.0.0.4/31"}, "10.0.0.4 10.0.0.5", ""},
		{[]string{"10.0.0.5,10.0.0.6", "10.0.0.5"}, "10.0.0.5 10.0.0.6", ""},
		{[]string{"fd00::1-fd00::3"}, "fd00::1 fd00::2 fd00::3", ""},
		{[]string{"10.0.0.9-10.0.0.1"}, "", "bad range"},
		{[]string{"10.0.0.1-fd00::1"}, "", "bad range"},
		{[]string{"10.0.0.0/33"}, "", "bad CIDR"},
		{[]string{"host.example"}, "", "not an IP"},
		{[]string{"10.0.0.0/8"}, "", "more than 4096"},
	} {
		got, err := ParseSourceAddrs(tc.in)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: err = %v, want %q", tc.in, err, tc.err)
			continue
		}
		if s := strings.Join(got, " "); err == nil && s != tc.want {
			t.Errorf("%v = %s, want %s", tc.in, s, tc.want)
		}
	}
}

// Every 127/8 address is this machine's; a TEST-NET one is not, and the
// error names it.
func TestCheckLocal(t *testing.T) {
	if err := checkLocal([]string{"127.0.0.2", "127.0.0.9"}); err != nil {
		t.Fatal(err)
	}
	err := checkLocal([]string{"127.0.0.2", "192.0.2.7"})
	if err == nil || !strings.Contains(err.Error(), "source address 192.0.2.7 is not local") || strings.Contains(err.Error(), "127.0.0.2 is") {
		t.Fatalf("err = %v, want 192.0.2.7 named as not local", err)
	}
}

func TestMergeSources(t *testing.T) {
	a := mergeSources(nil, []SourceCount{{"127.0.0.10", 1}, {"127.0.0.9", 2}})
	a = mergeSources(a, []SourceCount{{"127.0.0.9", 3}, {"127.0.0.2", 4}})
	if len(a) != 3 || a[0] != (SourceCount{"127.0.0.2", 4}) || a[1] != (SourceCount{"127.0.0.9", 5}) || a[2] != (SourceCount{"127.0.0.10", 1}) {
		t.Fatalf("merged %v", a)
	}
}
