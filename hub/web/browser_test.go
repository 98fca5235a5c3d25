package web_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"github.com/chromedp/chromedp"
)

// chromium returns the browser's path. Missing, the test fails in CI
// (CI set: .ci/run installs it) and is skipped elsewhere (enginetest.Missing).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	enginetest.Missing(t, "chromium not found; install it (apt-get install chromium) to run the chat page's browser tests")
	return ""
}

// page is one browser tab on the chat page.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// run runs actions in the tab, in order, failing the test on error.
func (p *page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: evaluating %s: %v", p.name, expr, err)
	}
	return v
}

// waitJS polls until the JavaScript expression is true.
func (p *page) waitJS(what, expr string) {
	p.t.Helper()
	p.run("waiting for "+what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// logHas waits until a log entry's text contains s.
func (p *page) logHas(s string) {
	p.t.Helper()
	p.waitJS("log entry "+s, `document.getElementById('log').textContent.includes(`+jsString(s)+`)`)
}

// logLacks checks that no log entry contains s now.
func (p *page) logLacks(s string) {
	p.t.Helper()
	if eval[bool](p, `document.getElementById('log').textContent.includes(`+jsString(s)+`)`) {
		p.t.Fatalf("%s: log contains %q", p.name, s)
	}
}

// members waits until the member list is exactly names (sorted, comma-joined).
func (p *page) members(names string) {
	p.t.Helper()
	p.waitJS("members "+names, `Array.from(document.querySelectorAll('#members li')).map(e => e.textContent).join(',') === `+jsString(names))
}

func (p *page) status(s string) {
	p.t.Helper()
	p.waitJS("status "+s, `document.getElementById('status').textContent === `+jsString(s))
}

// say types text (to someone, if to is set) and sends it.
func (p *page) say(to, text string) {
	p.t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.SetValue(chromedp.ID("text"), text)}
	if to != "" { // the page empties "to" after each send
		steps = append(steps, chromedp.SetValue(chromedp.ID("to"), to))
	}
	p.run("sending "+text, append(steps, chromedp.Click(chromedp.ID("send")))...)
}

// newBrowser starts headless Chromium with a fresh profile for the test
// (stopped at cleanup), with extra options, and returns the context of its
// first tab. The
// whole test must finish within limit.
func newBrowser(t *testing.T, limit time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := append(append(chromedp.DefaultExecAllocatorOptions[:], extra...),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // runs as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	var done atomic.Bool // chromedp may log after the test
	t.Cleanup(func() { done.Store(true) })
	logf := func(format string, args ...any) {
		if !done.Load() {
			t.Logf("chromedp: "+format, args...)
		}
	}
	browser, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf))
	t.Cleanup(cancelBrowser)
	return browser
}

// TestBrowserChat drives the page in headless Chromium: three tabs chat,
// a whisper reaches only its target, HTML stays text, a rename and a
// room change show up on the others' pages.
func TestBrowserChat(t *testing.T) {
	srv := startNode(t)
	browser := newBrowser(t, 30*time.Second)
	base := "http://" + srv.Addr().String() + "/"

	open := func(name string) *page {
		t.Helper()
		p := &page{t: t, name: name, ctx: browser}
		if name != "alice" { // alice's tab is the browser's first target
			p.ctx, _ = chromedp.NewContext(browser)
			p.run("loading the page", chromedp.Navigate(base+"?name="+name)) // connects at once
		} else { // a new user (fresh profile, no name remembered) types a name
			p.run("loading the page", chromedp.Navigate(base))
			p.run("connecting",
				chromedp.WaitVisible(chromedp.ID("name")),
				chromedp.SetValue(chromedp.ID("name"), name),
				chromedp.Click(chromedp.ID("connect")))
		}
		p.status("You are " + name + " in lobby")
		return p
	}
	alice, bob, carol := open("alice"), open("bob"), open("carol")
	alice.members("alice,bob,carol")
	bob.members("alice,bob,carol")

	alice.say("", "hello from alice")
	bob.logHas("hello from alice")
	carol.logHas("hello from alice")

	// A whisper reaches bob (and alice's echo), not carol: alice's later
	// message is a barrier, as each loop delivers one sender's posts in order.
	alice.say("bob", "secret for bob")
	bob.logHas("alice → bob:secret for bob")
	alice.logHas("alice → bob:secret for bob")
	alice.say("", "after the secret")
	carol.logHas("after the secret")
	carol.logLacks("secret for bob")

	// HTML is text: shown literally, no element made of it.
	alice.say("", "<b>x</b><img src=x onerror=alert(1)>")
	bob.logHas("<b>x</b><img src=x onerror=alert(1)>")
	if elems := eval[int](bob, `document.querySelectorAll('#log b, #log img').length`); elems != 0 {
		t.Fatalf("the message became %d HTML elements", elems)
	}
	if last := eval[string](bob, `document.querySelector('#log li.message:last-of-type .text').textContent`); last != "<b>x</b><img src=x onerror=alert(1)>" {
		t.Fatalf("last message text %q", last)
	}

	// Rename with the name field, and with a typed command.
	bob.run("renaming",
		chromedp.SetValue(chromedp.ID("name"), "bobby"),
		chromedp.Click(chromedp.ID("connect")))
	bob.status("You are bobby in lobby")
	alice.logHas("bob is now known as bobby")
	alice.members("alice,bobby,carol")
	carol.say("", "/nick carla")
	carol.status("You are carla in lobby")
	alice.members("alice,bobby,carla")
	bob.say("", "/nick alice")
	bob.logHas(`error: name "alice" is taken`)

	// Rooms: carla moves to a new room and back.
	carol.run("joining games",
		chromedp.SetValue(chromedp.ID("roomname"), "games"),
		chromedp.Click(chromedp.ID("join")))
	carol.status("You are carla in games")
	carol.logHas("carla joined games (new room)")
	carol.members("carla")
	alice.logHas("carla left lobby")
	alice.members("alice,bobby")
	alice.say("", "lobby only")
	bob.logHas("lobby only")
	carol.run("back to the lobby", chromedp.Click(chromedp.ID("leave")))
	carol.status("You are carla in lobby")
	alice.members("alice,bobby,carla")
	carol.logLacks("lobby only")
}
