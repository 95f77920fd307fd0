package commands

import (
	"context"

	"buildledger/domain/runcommand"
	"buildledger/domain/streams"
	"buildledger/events"
)

// RunCommandAggregate folds a runcommand-<uuid> stream.
var RunCommandAggregate = Aggregate[runcommand.State]{Name: "runcommand", Evolve: runcommand.Evolve}

// StartRunCommand records that a RunCommand run begins. It fails with a
// conflict when the run has started before: the caller must not run it.
func (h *Handlers) StartRunCommand(ctx context.Context, md events.Metadata, e events.RunCommandStarted) (Result, error) {
	return Execute(ctx, h.rt, streams.RunCommand(e.UUID), RunCommandAggregate, func(s runcommand.State) ([]events.Payload, error) {
		return runcommand.Start(s, e)
	}, md)
}

// FinishRunCommand records how a started run ended.
func (h *Handlers) FinishRunCommand(ctx context.Context, md events.Metadata, e events.RunCommandFinished) (Result, error) {
	return Execute(ctx, h.rt, streams.RunCommand(e.UUID), RunCommandAggregate, func(s runcommand.State) ([]events.Payload, error) {
		return runcommand.Finish(s, e)
	}, md)
}

// RunCommand loads the state of the run uuid.
func (h *Handlers) RunCommand(ctx context.Context, uuid string) (runcommand.State, error) {
	l, err := Load(ctx, h.rt, streams.RunCommand(uuid), RunCommandAggregate)
	return l.State, err
}
