package main

import (
	"context"
	"log/slog"
	"time"

	"edgews/hub"
	"edgews/hub/cluster"
)

// sharedHistory sets up --history-shared: the cluster's history stream.
// If NATS does not answer in time, the node keeps its own history (nil),
// as a single node does, and says so.
func sharedHistory(node *cluster.Node, hc hub.Config, logger *slog.Logger) hub.Sequencer {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs, err := node.NewHistory(ctx, cluster.HistoryConfig{PerRoom: hc.History, TTL: hc.HistoryTTL, MaxBytes: hc.HistoryMaxBytes})
	if err != nil {
		logger.Warn("shared history unavailable: this node keeps its own", "err", err)
		return nil
	}
	logger.Info("shared history", "per_room", hc.History)
	return hs
}
