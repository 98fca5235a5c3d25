package bench

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The same plan as YAML and as JSON reads the same; its keys are the
// flags' names.
func TestParsePlan(t *testing.T) {
	yamlPlan := `
url: ws://node.example.com/chat        # a comment
mix: {idle: 0.8, chat: 0.2, chat_rate: 0.5, whisper: 0.1, json: 0.25}
drain: 3s
dial_timeout: 10s
stages:
  - {duration: 30s, target: 10000, name: ramp}
  - {duration: 10m, target: 10000, thresholds: ["connected>=9900"]}
  - {duration: 30s, target: 0}
thresholds: ["p99<50ms", "loss==0"]
`
	jsonPlan := `{"url": "ws://node.example.com/chat", "mix": {"idle": 0.8, "chat": 0.2, "chat_rate": 0.5, "whisper": 0.1, "json": 0.25},
	"drain": "3s", "dial_timeout": "10s",
	"stages": [{"duration": "30s", "target": 10000, "name": "ramp"}, {"duration": "10m", "target": 10000, "thresholds": ["connected>=9900"]},
	  {"duration": "30s", "target": 0}],
	"thresholds": ["p99<50ms", "loss==0"]}`
	var cfgs []Config
	for _, src := range []string{yamlPlan, jsonPlan} {
		p, err := ParsePlan(strings.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.Config()
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, c)
	}
	c := cfgs[0]
	if !reflect.DeepEqual(cfgs[0], cfgs[1]) {
		t.Fatalf("YAML %+v\nJSON %+v", cfgs[0], cfgs[1])
	}
	if c.Scenario != Mixed || len(c.Stages) != 3 || c.Stages[1].Duration != 10*time.Minute || c.Stages[0].Name != "ramp" ||
		c.Drain != 3*time.Second || c.DialTimeout != 10*time.Second || c.Mix.Chat != 0.2 || c.Mix.JSON != 0.25 || len(c.Thresholds) != 2 {
		t.Fatalf("config %+v", c)
	}
	if _, err := parseThresholds(&c); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ src, err string }{
		{"url: ws://h\nstages: [{duration: 30, target: 5}]", "with a unit"},
		{"url: ws://h\nstages: [{duration: 3s, target: 5}]\nconns: 5", "drop conns"},
		{"url: ws://h\nstagez: []", "field stagez not found"},
		{"url: ws://h\nscenario: echo\nstages: [{duration: 3s, target: 5}]", "stages run a mix"},
		{"url: ws://h", "say what to run"},
		{"url: ws://h\nmix: {idle: 1}", "a mix needs stages"},
		{"", "empty"},
	} {
		p, err := ParsePlan(strings.NewReader(tc.src))
		if err == nil {
			_, err = p.Config()
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err = %v, want %q", tc.src, err, tc.err)
		}
	}
	// A one-shape run: the scenario's keys.
	p, err := ParsePlan(strings.NewReader("scenario: echo\nurl: ws://h\nconns: 50\ninflight: 4\nduration: 2s\nsource_addrs: [127.0.0.2-127.0.0.3]"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := p.Config(); err != nil || c.Scenario != Echo || c.Conns != 50 || c.InFlight != 4 || c.Duration != 2*time.Second || len(c.SourceAddrs) != 1 {
		t.Fatalf("config %+v, err %v", c, err)
	}
}
