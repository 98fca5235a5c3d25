package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"edgews/hub"
	"github.com/nats-io/nats.go/jetstream"
)

// The bans and mutes in JetStream key-value (see api.go for the layout).

type modBuckets struct {
	bans, mutes jetstream.KeyValue
}

// banKey is a ban's key: name.NAME, user.B64(sub), ip.B64(addr) (a sub
// or an address may hold characters keys may not).
func banKey(t hub.Target) string {
	switch {
	case t.Name != "":
		return "name." + t.Name
	case t.User != "":
		return "user." + base64.RawURLEncoding.EncodeToString([]byte(t.User))
	}
	return "ip." + base64.RawURLEncoding.EncodeToString([]byte(t.IP))
}

// muteKey is a mute's key: its target's, then its room, or "=" (no room
// name has one) for every room.
func muteKey(t hub.Target, room string) string {
	if room == "" {
		room = "="
	}
	return banKey(t) + "." + room
}

// parseKey reads a ban's or a mute's key back.
func parseKey(key string, mute bool) (t hub.Target, room string, ok bool) {
	kind, rest, _ := strings.Cut(key, ".")
	if mute {
		var r string
		if rest, r, ok = strings.Cut(rest, "."); !ok {
			return t, "", false
		}
		if r != "=" {
			room = r
		}
	}
	switch kind {
	case "name":
		return hub.Target{Name: rest}, room, rest != ""
	case "user", "ip":
		v, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil || len(v) == 0 {
			return t, "", false
		}
		if kind == "user" {
			return hub.Target{User: string(v)}, room, true
		}
		return hub.Target{IP: string(v)}, room, true
	}
	return t, "", false
}

// bucket is the bans' or the mutes' bucket; ErrUnavailable until they are
// set up.
func (c *control) bucket(ban bool) (jetstream.KeyValue, error) {
	mb := c.mod.Load()
	if mb == nil { // the watch has not set them up yet: this call does
		if err := c.setupMod(); err != nil {
			return nil, errors.Join(hub.ErrUnavailable, err)
		}
		mb = c.mod.Load()
	}
	if ban {
		return mb.bans, nil
	}
	return mb.mutes, nil
}

// putMod writes a ban or a mute with its TTL (at least a second: the
// server's resolution). A key's TTL is set when it is created, so a key
// that exists is purged and created again.
func (c *control) putMod(ctx context.Context, ban bool, key string, v any, ttl time.Duration) error {
	kv, err := c.bucket(ban)
	if err != nil {
		return err
	}
	val, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ttl = max(ttl.Truncate(time.Second)+time.Second, time.Second)
	_, err = kv.Create(ctx, key, val, jetstream.KeyTTL(ttl))
	if errors.Is(err, jetstream.ErrKeyExists) {
		if err = kv.Purge(ctx, key); err == nil {
			_, err = kv.Create(ctx, key, val, jetstream.KeyTTL(ttl))
		}
	}
	if err != nil {
		return errors.Join(hub.ErrUnavailable, err)
	}
	return nil
}

// delMod deletes a ban or a mute, reporting whether it was there.
func (c *control) delMod(ctx context.Context, ban bool, key string) (bool, error) {
	kv, err := c.bucket(ban)
	if err != nil {
		return false, err
	}
	_, err = kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err == nil {
		err = kv.Delete(ctx, key)
	}
	if err != nil {
		return false, errors.Join(hub.ErrUnavailable, err)
	}
	return true, nil
}

// setupMod creates (or binds) the moderation buckets.
func (c *control) setupMod() error {
	n := c.n
	ctx, cancel := context.WithTimeout(context.Background(), 2*n.cfg.OpTimeout)
	defer cancel()
	bucket := func(name, what string) (jetstream.KeyValue, error) {
		return n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: n.cfg.Name + name, Description: "edgews chat: " + what, History: 1,
			Replicas: n.cfg.Replicas, LimitMarkerTTL: modMarkerTTL,
		})
	}
	bans, err := bucket("_bans", "bans (server API), with their TTL")
	if err != nil {
		return err
	}
	mutes, err := bucket("_mutes", "mutes (server API), with their TTL")
	if err != nil {
		return err
	}
	c.mod.Store(&modBuckets{bans: bans, mutes: mutes})
	return nil
}

// watchModeration keeps the hub's bans and mutes in line with the
// buckets, until the node closes: on every (re)connection it watches both
// buckets anew, hands the hub everything they hold at once
// (ReplaceModeration), then every change.
func (c *control) watchModeration() {
	n := c.n
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var w modWatch
	defer w.stop()
	reconnects := int64(-1)
	// check (re)starts the watch once the node is healthy after a start
	// or a reconnection.
	check := func() {
		rc := n.stats.Reconnects.Load()
		if !n.Healthy() || (w.bans != nil && rc == reconnects) {
			return
		}
		w.stop()
		if err := c.setupMod(); err != nil {
			n.log.Warn("cluster: moderation buckets setup failed; retrying", "err", err)
			return
		}
		if err := w.start(n.ctx, c.mod.Load()); err != nil {
			n.log.Warn("cluster: moderation watch failed; retrying", "err", err)
			return
		}
		reconnects = rc
	}
	check()
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
			check()
		case e, ok := <-w.bansCh:
			switch {
			case !ok:
				w.bansCh = nil
			case e == nil:
				w.bansIn = true
			case !w.replaced:
				if b, ok := decodeBan(e); ok {
					w.bans = append(w.bans, b)
				}
			default:
				c.applyBan(e)
			}
		case e, ok := <-w.mutesCh:
			switch {
			case !ok:
				w.mutesCh = nil
			case e == nil:
				w.mutesIn = true
			case !w.replaced:
				if m, ok := decodeMute(e); ok {
					w.mutes = append(w.mutes, m)
				}
			default:
				c.applyMute(e)
			}
		}
		if w.bansIn && w.mutesIn && !w.replaced {
			c.h.ReplaceModeration(w.bans, w.mutes)
			w.replaced = true
			w.bans, w.mutes = []hub.Ban{}, nil // non-nil: watching
		}
	}
}

// modWatch is the watch of the moderation buckets.
type modWatch struct {
	cancel          context.CancelFunc // ends the watches' context (nats.go keeps a goroutine per watch until it ends)
	watchers        []jetstream.KeyWatcher
	bansCh, mutesCh <-chan jetstream.KeyValueEntry
	bans            []hub.Ban // the initial values, until replaced; non-nil while watching
	mutes           []hub.Mute
	bansIn, mutesIn bool // the initial values are in
	replaced        bool // and handed to the hub
}

func (w *modWatch) start(parent context.Context, mb *modBuckets) error {
	ctx, cancel := context.WithCancel(parent)
	wb, err := mb.bans.WatchAll(ctx)
	if err != nil {
		cancel()
		return err
	}
	wm, err := mb.mutes.WatchAll(ctx)
	if err != nil {
		_ = wb.Stop()
		cancel()
		return err
	}
	*w = modWatch{cancel: cancel, watchers: []jetstream.KeyWatcher{wb, wm}, bansCh: wb.Updates(), mutesCh: wm.Updates(), bans: []hub.Ban{}}
	return nil
}

func (w *modWatch) stop() {
	for _, x := range w.watchers {
		_ = x.Stop()
	}
	if w.cancel != nil {
		w.cancel()
	}
	*w = modWatch{}
}

func decodeBan(e jetstream.KeyValueEntry) (hub.Ban, bool) {
	var b hub.Ban
	if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &b) != nil {
		return b, false
	}
	return b, true
}

func decodeMute(e jetstream.KeyValueEntry) (hub.Mute, bool) {
	var m hub.Mute
	if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &m) != nil {
		return m, false
	}
	return m, true
}

// applyBan hands one change of the bans' bucket to the hub.
func (c *control) applyBan(e jetstream.KeyValueEntry) {
	if b, ok := decodeBan(e); ok {
		c.h.SetBan(b)
		return
	}
	if t, _, ok := parseKey(e.Key(), false); ok && e.Operation() != jetstream.KeyValuePut {
		c.h.RemoveBan(t)
	}
}

// applyMute hands one change of the mutes' bucket to the hub.
func (c *control) applyMute(e jetstream.KeyValueEntry) {
	if m, ok := decodeMute(e); ok {
		c.h.SetMute(m)
		return
	}
	if t, room, ok := parseKey(e.Key(), true); ok && e.Operation() != jetstream.KeyValuePut {
		c.h.RemoveMute(t, room)
	}
}
