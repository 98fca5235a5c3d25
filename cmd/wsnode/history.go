package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"edgews/hub"
	"edgews/hub/cluster"
)

// historyAttempt bounds one attempt to set up the shared history stream,
// historyPause the wait between two.
const (
	historyAttempt = 2 * time.Second
	historyPause   = time.Second
)

// sharedHistory sets up --history-shared: the cluster's history stream.
// It never falls back to a history of the node's own: that node's
// messages would reach the shared nodes over core NATS with offsets of its
// own, and it would never get theirs. It retries until the stream is set
// up, for at most wait if wait > 0 (--history-shared-wait; then an error:
// the node refuses to start), or until ctx ends (a signal).
func sharedHistory(ctx context.Context, node *cluster.Node, hc hub.Config, wait time.Duration, logger *slog.Logger) (*cluster.History, error) {
	var cancel context.CancelFunc = func() {}
	if wait > 0 {
		ctx, cancel = context.WithTimeout(ctx, wait)
	}
	defer cancel()
	for attempt := 1; ; attempt++ {
		actx, done := context.WithTimeout(ctx, historyAttempt)
		hs, err := node.NewHistory(actx, cluster.HistoryConfig{PerRoom: hc.History, TTL: hc.HistoryTTL, MaxBytes: hc.HistoryMaxBytes})
		done()
		if err == nil {
			logger.Info("shared history", "per_room", hc.History)
			return hs, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("shared history unavailable after %d attempts: %w", attempt, err)
		}
		logger.Warn("shared history unavailable: waiting for JetStream before serving (--history-shared-wait bounds the wait)", "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
		case <-time.After(historyPause):
		}
	}
}
