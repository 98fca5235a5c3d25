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
	if mb == nil {
		return nil, hub.ErrUnavailable
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
	var watchers []jetstream.KeyWatcher
	var bansCh, mutesCh <-chan jetstream.KeyValueEntry
	stopWatch := func() {
		for _, w := range watchers {
			_ = w.Stop()
		}
		watchers, bansCh, mutesCh = nil, nil, nil
	}
	defer stopWatch()
	reconnects := int64(-1)
	var initial struct {
		bans     []hub.Ban
		mutes    []hub.Mute
		banned   bool // the bans' initial values are in
		muted    bool
		replaced bool // handed to the hub
	}
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
			rc := n.stats.Reconnects.Load()
			if !n.Healthy() || (watchers != nil && rc == reconnects) {
				continue
			}
			stopWatch()
			if err := c.setupMod(); err != nil {
				n.log.Warn("cluster: moderation buckets setup failed; retrying", "err", err)
				continue
			}
			mb := c.mod.Load()
			wb, err := mb.bans.WatchAll(context.Background())
			if err != nil {
				n.log.Warn("cluster: moderation watch failed; retrying", "err", err)
				continue
			}
			wm, err := mb.mutes.WatchAll(context.Background())
			if err != nil {
				_ = wb.Stop()
				n.log.Warn("cluster: moderation watch failed; retrying", "err", err)
				continue
			}
			watchers, bansCh, mutesCh = []jetstream.KeyWatcher{wb, wm}, wb.Updates(), wm.Updates()
			reconnects = rc
			initial.bans, initial.mutes = nil, nil
			initial.banned, initial.muted, initial.replaced = false, false, false
		case e, ok := <-bansCh:
			if !ok {
				bansCh = nil
				continue
			}
			if e == nil {
				initial.banned = true
			} else if !initial.replaced {
				if b, ok := decodeBan(e); ok {
					initial.bans = append(initial.bans, b)
				}
			} else {
				c.applyBan(e)
			}
		case e, ok := <-mutesCh:
			if !ok {
				mutesCh = nil
				continue
			}
			if e == nil {
				initial.muted = true
			} else if !initial.replaced {
				if m, ok := decodeMute(e); ok {
					initial.mutes = append(initial.mutes, m)
				}
			} else {
				c.applyMute(e)
			}
		}
		if initial.banned && initial.muted && !initial.replaced {
			c.h.ReplaceModeration(initial.bans, initial.mutes)
			initial.replaced = true
			initial.bans, initial.mutes = nil, nil
		}
	}
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
