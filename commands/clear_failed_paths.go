package commands

import (
	"context"

	"buildledger/domain/streams"
	"buildledger/events"
)

// failedPathsAggregate folds the caches-failed-paths stream, which has no
// state: a clearing is always allowed, and each one is recorded.
var failedPathsAggregate = Aggregate[struct{}]{Name: "failed paths", Evolve: func(s struct{}, _ events.Payload) struct{} { return s }}

// ClearFailedPaths appends FailedPathsCleared to caches-failed-paths: the
// projection empties FailedPaths and the scheduler forgets the outputs it
// knew to have failed, so the builds that need them are tried again.
func (h *Handlers) ClearFailedPaths(ctx context.Context, md events.Metadata) (Result, error) {
	return Execute(ctx, h.rt, streams.FailedPaths(), failedPathsAggregate, func(struct{}) ([]events.Payload, error) {
		return []events.Payload{&events.FailedPathsCleared{}}, nil
	}, md)
}
