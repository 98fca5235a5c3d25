package web_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"edgews/engine"
	"edgews/engine/enginetest"
	"edgews/hub"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/gorilla/websocket"
)

var screenshotDir = flag.String("screenshots", "", "write TestBrowserLayout's pictures of the page (desktop.png, phone.png, phone-drawer.png, phone-dark.png) into this directory (make screenshots)")

// viewport is a browser window size the page must work at.
type viewport struct {
	name   string
	w, h   int64
	mobile bool   // a phone: mobile and touch emulation
	me     string // the tab's chat name
}

// TestBrowserLayout loads the page at a phone's and a desktop's size in
// headless Chromium: no sideways scrolling, the send row on screen (also
// with the keyboard open), the member list reachable, /?name= connecting
// without a click, the name remembered across reloads, a 300-character
// word wrapped, the log following new messages unless scrolled up, labels,
// focus, and WCAG AA contrast in the light and the dark scheme. The page
// must raise no script error and no Content-Security-Policy violation.
func TestBrowserLayout(t *testing.T) {
	browser := newBrowser(t, 40*time.Second)
	for _, vp := range []viewport{
		{name: "phone", w: 390, h: 844, mobile: true, me: "bob"},
		{name: "desktop", w: 1280, h: 800, me: "dave"},
	} {
		t.Run(vp.name, func(t *testing.T) {
			// A node of its own (another origin, so another localStorage),
			// with room history: what alice and carol said before the tab
			// came is shown as past messages.
			srv := startNodeConfig(t, hub.Config{History: 50})
			base := "http://" + srv.Addr().String() + "/"
			alice, carol := dialPeer(t, srv, "alice"), dialPeer(t, srv, "carol")
			alice.sayStored(t, "morning! who is around today?")
			carol.sayStored(t, "/me is on the train")
			ctx, closeTab := chromedp.NewContext(browser) // a tab of its own, closed after
			defer closeTab()
			p := &page{t: t, name: vp.me, ctx: ctx}
			problems := watchConsole(p)
			defer func() {
				for _, m := range problems() {
					t.Errorf("page console: %s", m)
				}
			}()
			checkLayout(p, vp, base, alice, carol)
			if vp.mobile {
				otherWidths(p, vp)
				reclaimsName(p, srv)
			}
		})
	}
}

// watchConsole collects the tab's uncaught exceptions and security errors
// (CSP violations);
// the returned func reports those seen so far.
func watchConsole(p *page) func() []string {
	var mu sync.Mutex
	var seen []string
	msgs := chromedp.Console(p.ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return // the tab closed
			}
			if m.IsException() || m.Source == "security" { // CSP violations are security errors

				mu.Lock()
				seen = append(seen, m.String())
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// otherWidths: from the narrowest phone to a small desktop, around the
// 700 px breakpoint, nothing scrolls sideways and the send row is on
// screen; the drawer button is there exactly below 700 px.
func otherWidths(p *page, vp viewport) {
	for _, w := range []int64{360, 699, 700, 1024} {
		p.run("resizing", chromedp.EmulateViewport(w, 700, chromedp.EmulatePortrait, chromedp.EmulateMobile))
		p.waitJS("the page fitting the new size", fmt.Sprintf("innerWidth === %d && document.body.getBoundingClientRect().height <= innerHeight", w))
		noSidewaysScroll(p)
		sendRowOnScreen(p)
		drawer := eval[string](p, offScreen("drawer")) == ""
		if drawer != (w < 700) {
			p.t.Errorf("at %d px: drawer button shown %v", w, drawer)
		}
	}
	p.run("resizing back", emulateSize(vp, vp.h))
}

// reclaimsName: a returning user whose name is still held (the server has
// not yet seen the old page's connection go) gets a generated name, and
// the page asks again for the remembered one once it is free.
func reclaimsName(p *page, srv *engine.Server) {
	holder := dialPeer(p.t, srv, "erin")
	p.status("You are bob in lobby") // granted, and remembered, before we overwrite it
	p.run("remembering erin", chromedp.Evaluate[chromedp.Void](`localStorage.setItem('edgews.chat.name', 'erin')`))
	p.run("coming back", chromedp.Reload())
	p.waitJS("a generated name", `document.getElementById('status').textContent.startsWith('You are user')`)
	holder.close()
	p.status("You are erin in lobby")
}

func checkLayout(p *page, vp viewport, base string, alice, carol *peer) {
	t := p.t
	size := emulateSize(vp, vp.h)
	p.run("sizing the window", size)

	// First minute: /?name= connects without a click.
	p.run("loading the page", chromedp.Navigate(base+"?name="+vp.me))
	p.status("You are " + vp.me + " in lobby")
	p.waitJS("the message input focused", `document.activeElement === document.getElementById('text')`)
	scene(p, vp, alice, carol)
	screenshot(p, vp.name+".png", vp)

	noSidewaysScroll(p)
	sendRowOnScreen(p)
	membersReachable(p, vp)
	accessible(p)
	contrast(p, "light")
	p.run("dark scheme", darkScheme(true))
	if dark := eval[float64](p, luminanceJS+`luminance(getComputedStyle(document.body).backgroundColor)`); dark > 0.05 {
		t.Errorf("dark scheme: body background luminance %.2f, want a dark page", dark)
	}
	contrast(p, "dark")
	if vp.mobile {
		screenshot(p, "phone-dark.png", vp)
	}
	p.run("light scheme", darkScheme(false))

	// Enter sends, the input keeps focus, the log follows.
	p.run("typing and pressing Enter", chromedp.SendKeys(chromedp.ID("text"), "sent with Enter\r"))
	p.logHas(vp.me + ":sent with Enter")
	if got := eval[string](p, `document.activeElement.id + '|' + document.getElementById('text').value`); got != "text|" {
		t.Errorf("after Enter: focus|input %q, want the empty message input focused", got)
	}

	// A 300-character word and a long URL wrap instead of widening the page.
	word := strings.Repeat("W", 300)
	url := "https://example.com/" + strings.Repeat("path-segment/", 25)
	alice.say(t, word+" "+url)
	p.logHas(word)
	noSidewaysScroll(p)
	if over := eval[int](p, `Array.from(document.querySelectorAll('#log li')).filter(li => li.getBoundingClientRect().right > innerWidth).length`); over != 0 {
		t.Errorf("%d log entries reach past the window's right edge", over)
	}

	stickyLog(p, alice)

	if vp.mobile { // the on-screen keyboard takes about half the height
		p.run("opening the keyboard", chromedp.Focus(chromedp.ID("text")), emulateSize(vp, vp.h/2))
		p.waitJS("the page fitting the smaller window", `document.body.getBoundingClientRect().height <= innerHeight`)
		sendRowOnScreen(p)
		noSidewaysScroll(p)
		p.waitJS("the log at the bottom", logAtBottomJS)
		p.run("closing the keyboard", size)
	}

	// The name is remembered: a reload, and a visit to the bare address,
	// connect with it (the page dropped ?name= from the address).
	p.run("reloading", chromedp.Reload())
	p.status("You are " + vp.me + " in lobby")
	if got := eval[string](p, `location.search + '|' + document.getElementById('name').value`); got != "|"+vp.me {
		t.Errorf("after reload: search|name field %q, want %q", got, "|"+vp.me)
	}
	p.run("visiting the bare address", chromedp.Navigate(base))
	p.status("You are " + vp.me + " in lobby")
}

// emulateSize sets the window to the viewport's width and height h.
func emulateSize(vp viewport, h int64) chromedp.Action[chromedp.Void] {
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if vp.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	return chromedp.EmulateViewport(vp.w, h, opts...)
}

func darkScheme(on bool) chromedp.Action[chromedp.Void] {
	var f []*emulation.MediaFeature
	if on {
		f = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}
	}
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: f})
		return err
	})
}

// scene fills the log as the README's pictures show it: below what was
// said before the tab came (history), the others chat, whisper and act,
// and the tab's user answers.
func scene(p *page, vp viewport, alice, carol *peer) {
	names := []string{"alice", "carol", vp.me}
	slices.Sort(names)
	p.members(strings.Join(names, ","))
	alice.say(p.t, "hi "+vp.me+"! the page fits a phone now")
	carol.say(p.t, "/me waves")
	p.say("", "hello both, typing this on the go")
	if id := eval[string](p, `document.activeElement.id`); id != "text" {
		p.t.Errorf("after clicking Send, focus on %q, want the message input", id)
	}
	alice.say(p.t, "/w "+vp.me+" long links wrap too: https://example.com/docs/deploy#running-behind-a-tls-terminating-load-balancer")
	carol.say(p.t, "see you in #games later")
	p.logHas("see you in #games later")
	if n := eval[int](p, `document.querySelectorAll('#log li.past').length`); n != 2 {
		p.t.Errorf("%d past messages (the room's history) in the log, want 2", n)
	}
}

// screenshot captures the window as a PNG of its size and writes it
// into -screenshots, if set.
func screenshot(p *page, name string, vp viewport) {
	p.t.Helper()
	img, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if int64(cfg.Width) != vp.w || int64(cfg.Height) != vp.h {
		p.t.Errorf("screenshot %s is %dx%d, want %dx%d", name, cfg.Width, cfg.Height, vp.w, vp.h)
	}
	if *screenshotDir != "" {
		if err := os.WriteFile(filepath.Join(*screenshotDir, name), img, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

func noSidewaysScroll(p *page) {
	p.t.Helper()
	if w := eval[[]int](p, `[document.scrollingElement.scrollWidth, innerWidth]`); w[0] > w[1] {
		p.t.Errorf("page scrolls sideways: scrollWidth %d > innerWidth %d", w[0], w[1])
	}
}

// offScreen is a JavaScript expression saying why the elements are not
// fully visible and usable in the window (empty when they are): each box must
// lie inside the window, and no other element may cover its centre.
func offScreen(ids ...string) string {
	return `(() => { const onScreen = (id) => {` + onScreenJS + `}; return ` + jsString(strings.Join(ids, " ")) + `.split(' ').map(onScreen).filter(Boolean).join('; ') })()`
}

const onScreenJS = `
  const el = document.getElementById(id), r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return id + ' is not displayed';
  if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight)
    return id + ' at ' + [r.left, r.top, r.right, r.bottom].map(Math.round) + ' is outside the ' + innerWidth + 'x' + innerHeight + ' window';
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  if (hit !== el && !el.contains(hit)) return id + ' is covered by ' + (hit ? hit.tagName + '#' + hit.id : 'nothing');
  return '';
`

// sendRowOnScreen checks the whisper target, the message input and Send.
func sendRowOnScreen(p *page) {
	p.t.Helper()
	if bad := eval[string](p, offScreen("to", "text", "send")); bad != "" {
		p.t.Error("send row: " + bad)
	}
}

// membersReachable: on a phone the member list is behind the drawer
// button, on a desktop it is always shown. Picking a name from it sets
// the whisper target and returns to the message input.
func membersReachable(p *page, vp viewport) {
	t := p.t
	t.Helper()
	shown := offScreen("members")
	if !vp.mobile {
		if bad := eval[string](p, shown); bad != "" {
			t.Errorf("desktop: member list: %s", bad)
		}
		if bad := eval[string](p, offScreen("drawer")); bad == "" {
			t.Error("desktop: the drawer button is shown")
		}
		return
	}
	if bad := eval[string](p, shown); bad == "" {
		t.Error("phone: the member list is shown before the drawer is opened")
	}
	p.run("opening the drawer", chromedp.Click(chromedp.ID("drawer")))
	p.waitJS("the member list on screen", shown+` === ''`)
	if got := eval[string](p, `document.getElementById('drawer').getAttribute('aria-expanded')`); got != "true" {
		t.Errorf("drawer button aria-expanded %q when open", got)
	}
	if got := eval[string](p, `document.activeElement.id + ' ' + document.querySelector('section').inert + ' ' + document.querySelector('header').inert`); got != "closedrawer true true" {
		t.Errorf("drawer open: focus, section and header inert %q, want closedrawer true true", got)
	}
	screenshot(p, "phone-drawer.png", vp)
	p.run("closing with Escape", chromedp.KeyEvent(kb.Escape))
	p.waitJS("the drawer closed", shown+` !== ''`)
	if got := eval[string](p, `document.activeElement.id + ' ' + document.querySelector('section').inert`); got != "drawer false" {
		t.Errorf("drawer closed with Escape: focus and section inert %q, want drawer false", got)
	}
	p.run("opening the drawer again", chromedp.Click(chromedp.ID("drawer")))
	p.waitJS("the member list on screen", shown+` === ''`)
	p.run("picking alice", chromedp.Click(`#members button`)) // sorted: alice first
	p.waitJS("the drawer closed", shown+` !== ''`)
	if got := eval[string](p, `document.getElementById('to').value + '|' + document.activeElement.id`); got != "alice|text" {
		t.Errorf("after picking alice: whisper target|focus %q, want alice|text", got)
	}
	eval[string](p, `document.getElementById('to').value = ''`)
}

// wheelEvent is Input.dispatchMouseEvent's parameters for a wheel turn:
// Chromium requires deltaX, which cdproto's params omit when zero.
type wheelEvent struct {
	Type   string  `json:"type"`
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	DeltaX float64 `json:"deltaX"`
	DeltaY float64 `json:"deltaY"`
}

// wheel turns the mouse wheel at x, y by dy pixels (negative: up).
func wheel(x, y, dy float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		cmd := cdp.Command[wheelEvent, cdp.Empty]{Method: input.CommandDispatchMouseEvent}
		_, err := cdp.Call(ctx, tg, cmd, wheelEvent{Type: string(input.DispatchMouseEventTypeMouseWheel), X: x, Y: y, DeltaY: dy})
		return err
	})
}

const logAtBottomJS = `(() => { const l = document.getElementById('log'); return l.scrollTop + l.clientHeight >= l.scrollHeight - 2 })()`

// stickyLog: the log follows new messages; scrolled up, it stays put and
// offers a "new messages" button that goes back down.
func stickyLog(p *page, from *peer) {
	t := p.t
	t.Helper()
	for i := range 40 {
		from.say(t, "filler line "+string(rune('a'+i%26)))
	}
	from.say(t, "end of the filler")
	p.logHas("end of the filler")
	p.waitJS("the log at the bottom", logAtBottomJS)
	if !eval[bool](p, `document.getElementById('newmsgs').hidden`) {
		t.Error("new messages button shown while at the bottom")
	}

	// The user scrolls up with the mouse wheel over the log.
	r := eval[[]float64](p, `(() => { const r = document.getElementById('log').getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2] })()`)
	p.run("scrolling up", wheel(r[0], r[1], -100000))
	p.waitJS("the log scrolled to the top", `document.getElementById('log').scrollTop === 0`)
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`new Promise(ok => requestAnimationFrame(() => requestAnimationFrame(() => ok(true))))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("letting the scroll event run: %v", err)
	}
	from.say(t, "while you were reading")
	p.logHas("while you were reading")
	p.waitJS("the new messages button", `!document.getElementById('newmsgs').hidden && document.getElementById('newmsgs').textContent.includes('New message')`)
	if eval[bool](p, logAtBottomJS) {
		t.Error("the log jumped to the bottom while the user was reading above")
	}
	p.run("clicking new messages", chromedp.Click(chromedp.ID("newmsgs")))
	p.waitJS("the log at the bottom", logAtBottomJS+` && document.getElementById('newmsgs').hidden`)
}

// accessible checks that every control has a label, the log is a polite
// live region, and keyboard focus is drawn.
func accessible(p *page) {
	t := p.t
	t.Helper()
	unlabelled := eval[string](p, `Array.from(document.querySelectorAll('input, button, [tabindex]')).filter(el => {
	  const label = el.getAttribute('aria-label') || (el.labels && Array.from(el.labels).map(l => l.textContent).join('')) || (el.tagName === 'BUTTON' ? el.textContent : '');
	  return label.trim() === '';
	}).map(el => el.tagName + '#' + el.id).join(', ')`)
	if unlabelled != "" {
		t.Errorf("controls without a label: %s", unlabelled)
	}
	if got := eval[string](p, `(l => l.getAttribute('role') + ' ' + l.getAttribute('aria-live'))(document.getElementById('log'))`); got != "log polite" {
		t.Errorf("log role and aria-live %q, want log polite", got)
	}
	p.run("tabbing from the whisper target", chromedp.Focus(chromedp.ID("to")), chromedp.KeyEvent("\t"))
	focus := eval[string](p, luminanceJS+`(() => {
	  const el = document.activeElement, s = getComputedStyle(el);
	  if (el.id !== 'text') return 'focus on ' + el.id + ', want text';
	  if (!el.matches(':focus-visible') || s.outlineStyle === 'none' || parseFloat(s.outlineWidth) < 2) return 'no focus outline: ' + s.outline;
	  const ratio = contrastRatio(s.outlineColor, background(el.parentElement));
	  return ratio < 3 ? 'focus outline contrast ' + ratio.toFixed(2) + ' < 3' : '';
	})()`)
	if focus != "" {
		t.Error(focus)
	}
}

// luminanceJS defines WCAG 2 relative luminance and contrast for CSS
// colours as getComputedStyle gives them (rgb/rgba), background(el), the
// opaque colour behind an element (its and its ancestors' backgrounds
// composited over white), and opacity(el), the product of its and its
// ancestors' opacity, which fades text towards what is behind it.
const luminanceJS = `
function rgba(c) { const m = c.match(/[\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; }
function over(top, under) { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat(1); }
function lum(c) { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; }
function luminance(css) { return lum(rgba(css)); }
function background(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) layers.push(c);
    if (c[3] >= 1) break;
  }
  let bg = [255, 255, 255, 1];
  for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
  return bg;
}
function opacity(el) { let o = 1; for (let e = el; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity); return o; }
function contrastRatio(fgCSS, bg, alpha = 1) {
  const c = rgba(fgCSS); c[3] *= alpha;
  const fg = over(c, bg), a = lum(fg), b = lum(bg);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
`

// contrast checks every visible piece of text (placeholders and input
// values included) against its background: 4.5:1, or 3:1 for large text
// (WCAG 2 AA). Disabled controls are exempt, as WCAG has it.
func contrast(p *page, scheme string) {
	t := p.t
	t.Helper()
	bad := eval[[]string](p, luminanceJS+`(() => {
	  const bad = [];
	  const check = (el, color, what) => {
	    const s = getComputedStyle(el), size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
	    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
	    const o = opacity(el), ratio = contrastRatio(color, background(el), o);
	    if (ratio < need) bad.push(what + ' ' + ratio.toFixed(2) + ':1 (' + color + (o < 1 ? ' at opacity ' + o : '') + ' on ' + background(el) + ')');
	  };
	  for (const el of document.querySelectorAll('body *')) {
	    if (el.closest(':disabled') || el.getClientRects().length === 0 || getComputedStyle(el).visibility !== 'visible') continue;
	    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '');
	    if (el.tagName === 'INPUT') {
	      if (el.value) check(el, getComputedStyle(el).color, name + ' text');
	      else if (el.placeholder) check(el, getComputedStyle(el, '::placeholder').color, name + ' placeholder');
	      continue;
	    }
	    const text = Array.from(el.childNodes).some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim() !== '');
	    if (text) check(el, getComputedStyle(el).color, name);
	  }
	  return bad;
	})()`)
	for _, b := range bad {
		t.Errorf("%s scheme: contrast below WCAG AA: %s", scheme, b)
	}
}

// peer is another chat user, a plain-text WebSocket client whose incoming
// lines are read and dropped.
type peer struct {
	c    *websocket.Conn
	done chan struct{} // closed when reading ends

	mu   sync.Mutex
	seen []string // the lines received
}

func dialPeer(t *testing.T, srv *engine.Server, name string) *peer {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr().String()+"/chat?name="+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	pr := &peer{c: c, done: make(chan struct{})}
	go func() {
		defer close(pr.done)
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			pr.mu.Lock()
			pr.seen = append(pr.seen, string(msg))
			pr.mu.Unlock()
		}
	}()
	t.Cleanup(pr.close)
	return pr
}

// sayStored says line and waits until it comes back: the room (and its
// history) has it.
func (pr *peer) sayStored(t *testing.T, line string) {
	t.Helper()
	pr.say(t, line)
	text := strings.TrimPrefix(line, "/me ")
	enginetest.CheckFor(t, 5*time.Second, func() bool {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		return slices.ContainsFunc(pr.seen, func(s string) bool { return strings.HasSuffix(s, text) })
	}, "the room echoing "+line)
}

// close drops the connection (no close frame) and waits for the reader.
func (pr *peer) close() {
	pr.c.Close()
	<-pr.done
}

func (pr *peer) say(t *testing.T, line string) {
	t.Helper()
	if err := pr.c.WriteMessage(websocket.TextMessage, []byte(line)); err != nil {
		t.Fatal(err)
	}
}
