package commands

import (
	"context"

	"buildledger/domain/build"
	"buildledger/domain/streams"
	"buildledger/events"
)

// BuildAggregate folds build-<id> streams for the user actions on builds.
var BuildAggregate = Aggregate[build.State]{Name: "build", Evolve: build.Evolve}

func (h *Handlers) buildAction(ctx context.Context, md events.Metadata, id int64, cmd build.Command) (Result, error) {
	return Execute(ctx, h.rt, streams.Build(id), BuildAggregate, func(s build.State) ([]events.Payload, error) {
		return build.Decide(s, cmd, h.rt.clock.Now().Unix())
	}, md)
}

// RestartBuild appends BuildRestarted to build-<id> for a finished build.
func (h *Handlers) RestartBuild(ctx context.Context, md events.Metadata, id int64) (Result, error) {
	return h.buildAction(ctx, md, id, build.Restart{ID: id})
}

// CancelBuild appends BuildCancelled to build-<id> for an unfinished build.
func (h *Handlers) CancelBuild(ctx context.Context, md events.Metadata, id int64) (Result, error) {
	return h.buildAction(ctx, md, id, build.Cancel{ID: id})
}

// BumpBuild appends BuildBumped with the current Unix time as global
// priority to build-<id> for an unfinished build.
func (h *Handlers) BumpBuild(ctx context.Context, md events.Metadata, id int64) (Result, error) {
	return h.buildAction(ctx, md, id, build.Bump{ID: id, Priority: int(h.rt.clock.Now().Unix())})
}

// KeepBuild appends BuildKept to build-<id> unless the flag is unchanged.
func (h *Handlers) KeepBuild(ctx context.Context, md events.Metadata, id int64, keep bool) (Result, error) {
	return h.buildAction(ctx, md, id, build.Keep{ID: id, Keep: keep})
}
