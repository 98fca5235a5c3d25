package api

import (
	"context"
	"time"

	"edgews/hub"
)

// The methods' arguments, as JSON objects.
type (
	publishArgs struct {
		Room string `json:"room"`
		Text string `json:"text"`
	}
	broadcastArgs struct {
		Rooms []string `json:"rooms"`
		Text  string   `json:"text"`
	}
	targetArgs struct {
		Name string `json:"name"`
		User string `json:"user"`
		IP   string `json:"ip"`
	}
	disconnectArgs struct {
		Name   string `json:"name"`
		User   string `json:"user"`
		Code   uint16 `json:"code"`
		Reason string `json:"reason"`
	}
	muteArgs struct {
		Name string `json:"name"`
		User string `json:"user"`
		Room string `json:"room"`
		TTL  string `json:"ttl"`
	}
	unmuteArgs struct {
		Name string `json:"name"`
		User string `json:"user"`
		Room string `json:"room"`
	}
	banArgs struct {
		Name   string `json:"name"`
		User   string `json:"user"`
		IP     string `json:"ip"`
		TTL    string `json:"ttl"`
		Reason string `json:"reason"`
	}
	roomArgs struct {
		Room string `json:"room"`
	}
	deleteArgs struct {
		Room   string `json:"room"`
		Offset uint64 `json:"offset"`
	}
	historyArgs struct {
		Room  string  `json:"room"`
		Since *uint64 `json:"since"`
		Epoch string  `json:"epoch"`
		Limit int     `json:"limit"`
	}
	noArgs struct{}
)

// call decodes A from the body and runs f with it.
func call[A any](f func(ctx context.Context, ctl hub.Control, a A) (any, error)) method {
	return func(ctx context.Context, ctl hub.Control, body []byte) (any, error) {
		var a A
		if err := decode(body, &a); err != nil {
			return nil, err
		}
		return f(ctx, ctl, a)
	}
}

// empty is the result of the calls that return nothing: {}.
type empty struct{}

var methods = map[string]method{
	"publish": call(func(ctx context.Context, ctl hub.Control, a publishArgs) (any, error) {
		if a.Room == "" {
			return nil, hub.BadRequest(`"room" is required`)
		}
		return empty{}, ctl.Publish(ctx, []string{a.Room}, a.Text)
	}),
	"broadcast": call(func(ctx context.Context, ctl hub.Control, a broadcastArgs) (any, error) {
		return empty{}, ctl.Publish(ctx, a.Rooms, a.Text)
	}),
	"disconnect": call(func(ctx context.Context, ctl hub.Control, a disconnectArgs) (any, error) {
		n, err := ctl.Disconnect(ctx, hub.Target{Name: a.Name, User: a.User}, a.Code, a.Reason)
		return map[string]int{"disconnected": n}, err
	}),
	"mute": call(func(ctx context.Context, ctl hub.Control, a muteArgs) (any, error) {
		until, err := ttl(a.TTL)
		if err != nil {
			return nil, err
		}
		return map[string]time.Time{"until": until}, ctl.Mute(ctx, hub.Mute{Target: hub.Target{Name: a.Name, User: a.User}, Room: a.Room, Until: until})
	}),
	"unmute": call(func(ctx context.Context, ctl hub.Control, a unmuteArgs) (any, error) {
		removed, err := ctl.Unmute(ctx, hub.Target{Name: a.Name, User: a.User}, a.Room)
		return map[string]bool{"removed": removed}, err
	}),
	"ban": call(func(ctx context.Context, ctl hub.Control, a banArgs) (any, error) {
		until, err := ttl(a.TTL)
		if err != nil {
			return nil, err
		}
		n, err := ctl.Ban(ctx, hub.Ban{Target: hub.Target{Name: a.Name, User: a.User, IP: a.IP}, Until: until, Reason: a.Reason})
		return map[string]any{"until": until, "disconnected": n}, err
	}),
	"unban": call(func(ctx context.Context, ctl hub.Control, a targetArgs) (any, error) {
		removed, err := ctl.Unban(ctx, hub.Target{Name: a.Name, User: a.User, IP: a.IP})
		return map[string]bool{"removed": removed}, err
	}),
	"bans": call(func(ctx context.Context, ctl hub.Control, _ noArgs) (any, error) {
		bans, mutes, err := ctl.Bans(ctx)
		return map[string]any{"bans": bans, "mutes": mutes}, err
	}),
	"delete": call(func(ctx context.Context, ctl hub.Control, a deleteArgs) (any, error) {
		if a.Offset == 0 {
			return nil, hub.BadRequest(`"offset" is required: a message's offset (1, 2, ...)`)
		}
		return map[string]bool{"deleted": true}, ctl.Delete(ctx, a.Room, a.Offset)
	}),
	"presence": call(func(ctx context.Context, ctl hub.Control, a roomArgs) (any, error) {
		return ctl.Presence(ctx, a.Room)
	}),
	"rooms": call(func(ctx context.Context, ctl hub.Control, _ noArgs) (any, error) {
		rooms, err := ctl.Rooms(ctx)
		return map[string]any{"rooms": rooms}, err
	}),
	"history": call(func(ctx context.Context, ctl hub.Control, a historyArgs) (any, error) {
		q := hub.HistoryQuery{Room: a.Room, Epoch: a.Epoch, Limit: a.Limit, Resume: a.Since != nil || a.Epoch != ""}
		if a.Since != nil {
			q.Since = *a.Since
		}
		if a.Limit < 0 {
			return nil, hub.BadRequest(`"limit" must not be negative`)
		}
		return ctl.History(ctx, q)
	}),
	"info": call(func(ctx context.Context, ctl hub.Control, _ noArgs) (any, error) {
		return ctl.Info(ctx)
	}),
}
