package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// logger wraps the configured slog.Logger. Connection lifecycle goes to
// debug, behind a level check made once, so that with debug off a million
// connections opening and closing build no log records at all.
type logger struct {
	l     *slog.Logger
	debug bool
	warn  rateLimited // slow consumers and other per-connection warnings
}

func newLogger(l *slog.Logger) logger {
	return logger{l: l, debug: l.Enabled(context.Background(), slog.LevelDebug)}
}

func (lg *logger) connDebug(msg string, c *Conn, attrs ...slog.Attr) {
	if !lg.debug {
		return
	}
	attrs = append(attrs, slog.Uint64("conn", c.id), slog.Any("remote", c.RemoteAddr()))
	lg.l.LogAttrs(context.Background(), slog.LevelDebug, msg, attrs...)
}

// connWarn logs at warn, at most once per rateLimitInterval across the
// server (derp's RateLimitedFn idea); the next logged line says how many
// were suppressed in between.
func (lg *logger) connWarn(msg string, c *Conn, attrs ...slog.Attr) {
	n, ok := lg.warn.allow(time.Now().UnixNano())
	if !ok {
		return
	}
	attrs = append(attrs, slog.Uint64("conn", c.id), slog.Any("remote", c.RemoteAddr()))
	if n > 0 {
		attrs = append(attrs, slog.Int64("suppressed", n))
	}
	lg.l.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

const rateLimitInterval = int64(100 * time.Millisecond)

type rateLimited struct {
	next       atomic.Int64
	suppressed atomic.Int64
}

// allow reports whether a line may be logged now, and how many were
// suppressed since the last one that was.
func (r *rateLimited) allow(now int64) (int64, bool) {
	next := r.next.Load()
	if now < next || !r.next.CompareAndSwap(next, now+rateLimitInterval) {
		r.suppressed.Add(1)
		return 0, false
	}
	return r.suppressed.Swap(0), true
}

// gnetLogger routes gnet's own logs to slog (its debug lines are dropped).
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(string, ...any) {}
func (g gnetLogger) Infof(f string, a ...any) {
	// gnet's info lines describe its internals ("Starting gnet client ...":
	// the node runs gnet's loops as a client engine, see accept.go).
	g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet")
}
func (g gnetLogger) Warnf(f string, a ...any) {
	g.l.Warn(fmt.Sprintf(f, a...), "component", "gnet")
}
func (g gnetLogger) Errorf(f string, a ...any) {
	g.l.Error(fmt.Sprintf(f, a...), "component", "gnet")
}
func (g gnetLogger) Fatalf(f string, a ...any) {
	g.l.Error(fmt.Sprintf(f, a...), "component", "gnet")
}
