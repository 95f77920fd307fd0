package main

import (
	"context"
	"errors"

	"buildledger/events"
)

func openESDB(ctx context.Context, conn string) (events.Store, error) {
	return nil, errors.New("the EventStoreDB adapter is not wired yet")
}
