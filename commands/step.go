package commands

import (
	"context"
	"fmt"

	"buildledger/domain/build"
	"buildledger/domain/step"
	"buildledger/domain/streams"
	"buildledger/events"
)

// StepAggregate folds step-<hash> streams.
var StepAggregate = Aggregate[step.State]{Name: "step", Evolve: step.Evolve}

// buildFinishAggregate folds build-<id> streams for FinishBuild.
var buildFinishAggregate = Aggregate[build.State]{Name: "build", Evolve: build.Evolve}

func stepCommand(ctx context.Context, rt *Runtime, md events.Metadata, drv string,
	decide func(step.State) ([]events.Payload, error)) (Result, error) {
	if drv == "" {
		return Result{}, fmt.Errorf("step command: empty derivation path")
	}
	return Execute(ctx, rt, streams.Step(drv), StepAggregate, decide, md)
}

// DispatchStep records the scheduler's decision d on the step's stream.
// It is refused (domainerr.ErrConflict) when the step is not queued, its
// lease is still held, or d.Attempt is not the next attempt: a second
// dispatch of a dispatched or running step never lands.
func DispatchStep(ctx context.Context, rt *Runtime, md events.Metadata, d events.StepDispatched) (Result, error) {
	return stepCommand(ctx, rt, md, d.DrvPath, func(s step.State) ([]events.Payload, error) { return step.Dispatch(s, d) })
}

// StartStep records that a builder began the dispatched attempt
// e.Attempt. A duplicate delivery of the same BuildStep, or a stale
// attempt, is refused with domainerr.ErrConflict.
func StartStep(ctx context.Context, rt *Runtime, md events.Metadata, e events.StepStarted) (Result, error) {
	return stepCommand(ctx, rt, md, e.DrvPath, func(s step.State) ([]events.Payload, error) { return step.Start(s, e) })
}

// FinishStep records the end of the dispatched or running attempt
// e.Attempt. A second finish or a stale attempt is refused with
// domainerr.ErrConflict.
func FinishStep(ctx context.Context, rt *Runtime, md events.Metadata, e events.StepFinished) (Result, error) {
	return stepCommand(ctx, rt, md, e.DrvPath, func(s step.State) ([]events.Payload, error) { return step.Finish(s, e) })
}

// AbortStep records the end of a queued step that never got a machine
// (status 9, unsupported).
func AbortStep(ctx context.Context, rt *Runtime, md events.Metadata, e events.StepFinished) (Result, error) {
	return stepCommand(ctx, rt, md, e.DrvPath, func(s step.State) ([]events.Payload, error) { return step.Abort(s, e) })
}

// RequeueStep records StepRetryScheduled for the current attempt: a retry
// after a transient failure, a requeue after an expired lease (at time
// now), or a requeue of a failed step for a restarted build.
func RequeueStep(ctx context.Context, rt *Runtime, md events.Metadata, r events.StepRetryScheduled, now int64) (Result, error) {
	return stepCommand(ctx, rt, md, r.DrvPath, func(s step.State) ([]events.Payload, error) { return step.Requeue(s, r, now) })
}

// AbandonStep records, for a running attempt the scheduler gave up on
// (its builder went silent past the step's timeout), StepFinished f
// (status 3) and, when retry is not nil, the StepRetryScheduled that
// puts it back in the queue, in one append.
func AbandonStep(ctx context.Context, rt *Runtime, md events.Metadata, f events.StepFinished, retry *events.StepRetryScheduled) (Result, error) {
	return stepCommand(ctx, rt, md, f.DrvPath, func(s step.State) ([]events.Payload, error) {
		out, err := step.Finish(s, f)
		if err != nil || retry == nil {
			return out, err
		}
		more, err := step.Requeue(step.Evolve(s, f), *retry, f.StopTime)
		if err != nil {
			return nil, err
		}
		return append(out, more...), nil
	})
}

// FinishBuild records f on the build's stream, once: a build that already
// finished (or was cancelled) is refused with domainerr.ErrConflict.
func FinishBuild(ctx context.Context, rt *Runtime, md events.Metadata, f events.BuildFinished) (Result, error) {
	return Execute(ctx, rt, streams.Build(f.BuildID), buildFinishAggregate, func(s build.State) ([]events.Payload, error) {
		return build.Finish(s, f)
	}, md)
}
