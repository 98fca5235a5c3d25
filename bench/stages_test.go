package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

// The schedule: the count follows each stage's line; slot i is open
// exactly while the count is above i, and crossings says when.
func TestScheduleCount(t *testing.T) {
	s := newSchedule(0, []Stage{
		{Duration: 10 * time.Second, Target: 100}, // 0 -> 100
		{Duration: 10 * time.Second, Target: 100}, // hold
		{Duration: 0, Target: 300},                // jump
		{Duration: 20 * time.Second, Target: 0},   // 300 -> 0
	})
	sec := func(f float64) int64 { return int64(f * 1e9) }
	for _, tc := range []struct {
		t    float64
		want int
	}{{-1, 0}, {0, 0}, {0.1, 1}, {5, 50}, {9.99, 99}, {10, 100}, {15, 100}, {20, 300}, {30, 150}, {39.99, 0}, {40, 0}, {100, 0}} {
		if got := s.count(sec(tc.t)); got != tc.want {
			t.Errorf("count(%vs) = %d, want %d", tc.t, got, tc.want)
		}
	}
	if s.stageAt(sec(20)) != 3 || s.stageAt(sec(19)) != 1 || s.stageAt(sec(41)) != 4 {
		t.Errorf("stageAt: %d %d %d", s.stageAt(sec(20)), s.stageAt(sec(19)), s.stageAt(sec(41)))
	}
	// Every slot's crossings agree with count, to the nanosecond.
	for _, i := range []int{0, 1, 49, 99, 100, 150, 299, 300} {
		cs := s.crossings(i)
		if i >= 300 {
			if len(cs) != 0 {
				t.Errorf("slot %d never opens, crossings %v", i, cs)
			}
			continue
		}
		for _, c := range cs {
			if open := s.count(c.t) > i; open != c.up {
				t.Errorf("slot %d at its crossing %v: open %v", i, c, open)
			}
			if before := s.count(c.t-1) > i; before == c.up {
				t.Errorf("slot %d just before its crossing %v: open %v", i, c, before)
			}
		}
		if open := s.openedAt(i, sec(35)); (s.count(sec(35)) > i) != (open != 0) {
			t.Errorf("slot %d: openedAt(35 s) = %d with count %d", i, open, s.count(sec(35)))
		}
	}
	// Slot 120 opens at the jump (20 s) and closes as the count falls
	// under 121 (at 20 + 20*(300-121)/300 s); slot 50 opens at 5 s and
	// closes just after 20 + 20*(300-51)/300 s.
	if got := s.openedAt(120, sec(25)); got != sec(20) {
		t.Errorf("slot 120 opened at %d, want 20 s", got)
	}
	if got, want := s.closesAt(120, sec(25)), sec(20+20*179.0/300); got < want || got > want+2 {
		t.Errorf("slot 120 closes at %d, want %d", got, want)
	}
	if got := s.closesAt(50, sec(1)); got != sec(20+20*249.0/300)+1 {
		t.Errorf("slot 50 (open 5-36.6 s) closes at %d", got)
	}
	hold := newSchedule(0, []Stage{{Duration: time.Second, Target: 10}})
	if got := hold.closesAt(3, sec(0.5)); got != math.MaxInt64 {
		t.Errorf("a slot open at the end closes at %d, want never", got)
	}
}

func TestCheckStages(t *testing.T) {
	for _, tc := range []struct {
		stages []Stage
		err    string
	}{
		{[]Stage{{Duration: time.Second, Target: 5}}, ""},
		{[]Stage{{Duration: time.Second, Target: 0}}, "never open"},
		{[]Stage{{Duration: -time.Second, Target: 5}}, "negative duration"},
		{[]Stage{{Duration: time.Second, Target: -1}}, "negative target"},
		{[]Stage{{Duration: time.Second, Target: 5, Name: "a"}, {Duration: time.Second, Target: 5, Name: "a"}}, `name "a" is stage 1's`},
	} {
		_, err := checkStages(tc.stages)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("checkStages(%v) = %v, want %q", tc.stages, err, tc.err)
		}
	}
}

// Dealing keeps every prefix within one user of the mix, per kind, and
// spreads the JSON speakers over the chat's route.
func TestDealMix(t *testing.T) {
	m := &Mix{Idle: 0.7, Echo: 0.1, Chat: 0.2, JSON: 0.5, IdlePath: "/chat", EchoPath: "/echo", ChatPath: "/chat"}
	kinds, json := dealMix(m, 1000)
	var n [3]int
	js, room := 0, 0
	for j, k := range kinds {
		n[k]++
		if m.pathOf(k) == "/chat" {
			room++
			if json[j] {
				js++
			}
		}
		for kk, f := range []float64{m.Idle, m.Echo, m.Chat} {
			if d := float64(n[kk]) - f*float64(j+1); d > 1 || d < -1 {
				t.Fatalf("after %d users: kind %d has %d, want %v", j+1, kk, n[kk], f*float64(j+1))
			}
		}
		if json[j] && m.pathOf(k) != "/chat" {
			t.Fatalf("user %d speaks JSON on %s", j, m.pathOf(k))
		}
	}
	if n != [3]int{700, 100, 200} || js != room/2 {
		t.Fatalf("kinds %v, JSON %d of %d room users", n, js, room)
	}
	// Shares over workers add up to the peak.
	for _, w := range []int{1, 3, 7} {
		sum := 0
		for k := range w {
			sum += mixShare(1000, w, k)
		}
		if sum != 1000 {
			t.Errorf("%d workers hold %d of 1000 slots", w, sum)
		}
	}
}

func TestMixDefaults(t *testing.T) {
	stages := []Stage{{Duration: time.Second, Target: 10}}
	for _, tc := range []struct {
		name  string
		url   string
		mix   *Mix
		err   string
		paths string // idle echo chat
	}{
		{"all idle, no path: /echo", "ws://h:1", nil, "", "/echo /echo /chat"},
		{"all idle on /echo: no room", "ws://h:1/echo", nil, "", "/echo /echo /chat"},
		{"all idle on /chat: members", "ws://h:1/chat?room=a", nil, "", "/chat?room=a /echo /chat?room=a"},
		{"chat in the mix: idle on /chat", "ws://h:1", &Mix{Chat: 0.2}, "", "/chat /echo /chat"},
		{"the URL's path for idle and chat", "ws://h:1/ws?room=a", &Mix{Chat: 0.5, Echo: 0.1}, "", "/ws?room=a /echo /ws?room=a"},
		{"fractions over 1", "ws://h:1", &Mix{Idle: 0.5, Chat: 0.6}, "want 1", ""},
		{"chat on /echo", "ws://h:1/echo", &Mix{Chat: 0.5}, "chat users on /echo", ""},
		{"negative", "ws://h:1", &Mix{Echo: -0.1}, "not between 0 and 1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Config{Scenario: Mixed, URL: tc.url, Stages: stages, Mix: tc.mix}.withDefaults()
			if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if err != nil {
				return
			}
			if got := c.Mix.IdlePath + " " + c.Mix.EchoPath + " " + c.Mix.ChatPath; got != tc.paths {
				t.Errorf("paths %q, want %q", got, tc.paths)
			}
			if c.Conns != 10 || c.Duration != time.Second || c.MaxFailures != -1 {
				t.Errorf("conns %d duration %v max failures %d", c.Conns, c.Duration, c.MaxFailures)
			}
		})
	}
	if _, err := (Config{Scenario: Echo, URL: "ws://h:1", Stages: stages}).withDefaults(); err == nil {
		t.Error("stages on an echo run: no error")
	}
}
