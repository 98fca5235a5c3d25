package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A load plan is a run written down: `wsbench run PLAN.yaml`. Its keys are
// the command line's flags (dashes as underscores), so a plan reads the
// same as the command it replaces, plus what only a plan says: the mix of
// users and the stages of a staged run, and thresholds per stage.
//
//	url: ws://node.example.com/chat        # or urls: [...] for a cluster
//	mix: {idle: 0.8, chat: 0.2}            # fractions of users by kind
//	stages:
//	  - {duration: 30s, target: 10000}
//	  - {duration: 10m, target: 10000}
//	thresholds: ["p99<50ms", "loss==0"]
//
// JSON is YAML too: the same keys in a .json file work. An unknown key is
// an error, not ignored.

// Plan is a load plan as read from a file: a Config, whose yaml keys are
// the flags' names, and the token file of its agents.
type Plan struct {
	Run       Config `yaml:",inline"`
	TokenFile string `yaml:"token_file"`
}

// ReadPlan reads a plan (YAML or JSON) from a file.
func ReadPlan(name string) (*Plan, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("bench: plan: %w", err)
	}
	defer f.Close()
	p, err := ParsePlan(f)
	if err != nil {
		return nil, fmt.Errorf("bench: plan %s: %w", name, errors.Unwrap(err))
	}
	return p, nil
}

// ParsePlan reads a plan (YAML or JSON). Unknown keys are errors.
func ParsePlan(r io.Reader) (*Plan, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("bench: plan: %w", err)
	}
	var p Plan
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("bench: plan: %w", errors.New("empty"))
		}
		return nil, fmt.Errorf("bench: plan: %w", errors.New(planError(err)))
	}
	return &p, nil
}

// planError makes yaml's messages name the plan's terms.
func planError(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.ReplaceAll(s, "into time.Duration", "into a duration (write it with a unit: 30s, 10m, 1h)")
	return strings.ReplaceAll(s, "in type bench.", "in ")
}

// Config is the run the plan describes, checked for what only a plan can
// get wrong (defaults still unapplied: Run applies them). The token file
// is the caller's to read.
func (p *Plan) Config() (Config, error) {
	c := p.Run
	switch {
	case len(c.Stages) > 0 && c.Scenario != "" && c.Scenario != Mixed:
		return c, fmt.Errorf("bench: plan: stages run a mix of users (mix: {idle: ..., echo: ..., chat: ...}); scenario %q is for a run without stages", c.Scenario)
	case len(c.Stages) > 0 || c.Mix != nil:
		c.Scenario = Mixed
		if len(c.Stages) == 0 {
			return c, fmt.Errorf("bench: plan: a mix needs stages: [{duration: 30s, target: 1000}, ...]")
		}
		if c.Conns != 0 || c.RampRate != 0 || c.Duration != 0 {
			return c, fmt.Errorf("bench: plan: with stages, the stages set the connections and their pace: drop conns, ramp and duration")
		}
	case c.Scenario == "":
		return c, fmt.Errorf("bench: plan: say what to run: stages (and a mix), or a scenario (one of %s)", scenarioList())
	}
	return c, nil
}

// Mix says what the users of a staged run do, as fractions of them (which
// sum to 1; a missing idle is the rest), dealt evenly so that every
// process and every prefix of the users has the same mix.
type Mix struct {
	// Idle users only answer pings: on the URL's path (the chat's room
	// members who never talk, with a /chat URL), or IdlePath.
	Idle float64 `json:"idle" yaml:"idle"`
	// Echo users send a Payload-byte message EchoRate times a second
	// (open loop: on schedule, whatever the replies do) to /echo and
	// measure the round trip from when each was due.
	Echo float64 `json:"echo" yaml:"echo"`
	// Chat users talk in the room at ChatRate messages a second each
	// (Poisson), Whisper of it as whispers; every /chat user (idle
	// ones included) receives the room: delivery latency and loss.
	Chat float64 `json:"chat" yaml:"chat"`

	// EchoRate is each echo user's messages per second. If zero, 1.
	EchoRate float64 `json:"echo_rate,omitempty" yaml:"echo_rate"`
	// ChatRate is each chat user's mean messages per second. If zero,
	// DefaultTalkRate.
	ChatRate float64 `json:"chat_rate,omitempty" yaml:"chat_rate"`
	// Payload is the message size of echo and chat users (bytes, at least
	// MinChatPayload). If zero, DefaultPayload.
	Payload int `json:"payload,omitempty" yaml:"payload"`
	// Whisper is the fraction of chat messages whispered to another
	// user (one who stays connected for the accounting). Zero: none.
	Whisper float64 `json:"whisper,omitempty" yaml:"whisper"`
	// JSON is the fraction of /chat users that speak the chat's JSON
	// protocol (subprotocol chat.v1+json) instead of text lines.
	JSON float64 `json:"json,omitempty" yaml:"json"`

	// Routes per kind. Idle and chat users use the URL's path if it has
	// one, else /chat (idle: /echo when the mix has no chat users); echo
	// users use /echo. The users on ChatPath are the room's members.
	IdlePath string `json:"idle_path,omitempty" yaml:"idle_path"`
	EchoPath string `json:"echo_path,omitempty" yaml:"echo_path"`
	ChatPath string `json:"chat_path,omitempty" yaml:"chat_path"`
}

// DefaultEchoRate is an echo user's messages per second in a mix.
const DefaultEchoRate = 1

// mixDefaults checks and completes a staged run: the mix, its rates and
// routes, and what Conns and Duration mean (the peak and the stages'
// length). urlPath is the first URL's path as given ("" for none).
func (c *Config) mixDefaults(urlPath string) error {
	peak, err := checkStages(c.Stages)
	if err != nil {
		return err
	}
	if c.Islands {
		return fmt.Errorf("bench: a staged mix counts the URLs as one cluster: islands are not supported")
	}
	m := Mix{Idle: -1}
	if c.Mix != nil {
		m = *c.Mix
		if c.Mix.Idle == 0 && c.Mix.Echo+c.Mix.Chat < 1 {
			m.Idle = -1 // not given: the rest
		}
	}
	for _, f := range []float64{m.Echo, m.Chat, m.Whisper, m.JSON} {
		if f < 0 || f > 1 {
			return fmt.Errorf("bench: mix: fraction %v is not between 0 and 1", f)
		}
	}
	if m.Idle < 0 {
		m.Idle = max(0, 1-m.Echo-m.Chat)
	}
	if sum := m.Idle + m.Echo + m.Chat; sum < 0.999 || sum > 1.001 {
		return fmt.Errorf("bench: mix: idle %v + echo %v + chat %v = %v, want 1", m.Idle, m.Echo, m.Chat, sum)
	}
	if m.EchoRate < 0 || m.ChatRate < 0 {
		return fmt.Errorf("bench: mix: negative rate")
	}
	if m.EchoRate == 0 {
		m.EchoRate = DefaultEchoRate
	}
	if m.ChatRate == 0 {
		m.ChatRate = DefaultTalkRate
	}
	if m.Payload <= 0 {
		m.Payload = max(c.Payload, DefaultPayload)
	}
	m.Payload = max(m.Payload, chatHeaderLen)
	if m.ChatPath == "" {
		// The URL's path is the chat's if the mix talks, or if it looks
		// like one (its idle users are then room members, who count as
		// connected at their greeting).
		m.ChatPath = "/chat"
		if urlPath != "" && urlPath != "/" && (m.Chat > 0 || strings.HasSuffix(strings.SplitN(urlPath, "?", 2)[0], "/chat")) {
			m.ChatPath = urlPath
		}
	}
	if m.IdlePath == "" {
		switch {
		case urlPath != "" && urlPath != "/":
			m.IdlePath = urlPath
		case m.Chat > 0:
			m.IdlePath = m.ChatPath
		default:
			m.IdlePath = "/echo"
		}
	}
	if m.EchoPath == "" {
		m.EchoPath = "/echo"
	}
	if m.Chat > 0 && m.ChatPath == m.EchoPath {
		return fmt.Errorf("bench: mix: chat users on %s, the echo route: give the chat's URL (or chat_path)", m.ChatPath)
	}
	c.Mix = &m
	c.Conns, c.Duration, c.Payload, c.WhisperFrac = peak, stagesDuration(c.Stages), m.Payload, m.Whisper
	if c.Duration <= 0 {
		return fmt.Errorf("bench: the stages last 0 s")
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = -1 // failures are counted per stage; thresholds judge them
	}
	return nil
}
