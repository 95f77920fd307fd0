package main

import (
	"context"
	"log/slog"

	"buildledger/adapters/eventstore/esdb"
	"buildledger/events"
)

// openESDB connects to EventStoreDB; Open fails fast with a clear message
// for a malformed string, an unreachable server or wrong credentials.
func openESDB(ctx context.Context, conn string, log *slog.Logger) (events.Store, func(), error) {
	s, err := esdb.Open(ctx, conn, esdb.Options{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return s, func() { s.Close() }, nil
}
