package commands

import (
	"context"
	"errors"
	"fmt"

	"buildledger/domain/build"
	"buildledger/domain/domainerr"
	"buildledger/domain/step"
	"buildledger/domain/streams"
	"buildledger/events"
)

// StepAggregate folds step-<hash> streams.
var StepAggregate = Aggregate[step.State]{Name: "step", Evolve: step.Evolve}

// buildFinishAggregate folds build-<id> streams for FinishBuild.
var buildFinishAggregate = Aggregate[build.State]{Name: "build", Evolve: build.Evolve}

// ErrAttemptRefused is wrapped, with the domain's refusal
// (domainerr.ErrConflict, or ErrNotFound for an unknown step), by the
// errors of StartStep and CompleteStep for an attempt that is not the
// step's current dispatched or running one: a duplicate delivery, or an
// attempt requeued, cancelled or given up meanwhile.
var ErrAttemptRefused = errors.New("step attempt refused")

// attemptRefused wraps a refusal of the domain in ErrAttemptRefused.
func attemptRefused(res Result, err error) (Result, error) {
	if errors.Is(err, domainerr.ErrConflict) || errors.Is(err, domainerr.ErrNotFound) {
		err = fmt.Errorf("%w: %w", ErrAttemptRefused, err)
	}
	return res, err
}

func (h *Handlers) stepCommand(ctx context.Context, md events.Metadata, drv string,
	decide func(step.State) ([]events.Payload, error)) (Result, error) {
	if drv == "" {
		return Result{}, fmt.Errorf("step command: empty derivation path")
	}
	return Execute(ctx, h.rt, streams.Step(drv), StepAggregate, decide, md)
}

// DispatchStep records the scheduler's decision d on the step's stream.
// It is refused (domainerr.ErrConflict) when the step is not queued, its
// lease is still held, or d.Attempt is not the next attempt: a second
// dispatch of a dispatched or running step never lands.
func (h *Handlers) DispatchStep(ctx context.Context, md events.Metadata, d events.StepDispatched) (Result, error) {
	return h.stepCommand(ctx, md, d.DrvPath, func(s step.State) ([]events.Payload, error) { return step.Dispatch(s, &d) })
}

// StartStep records that a builder began the dispatched attempt
// e.Attempt. A duplicate delivery of the same BuildStep, or a stale
// attempt, is refused with ErrAttemptRefused.
func (h *Handlers) StartStep(ctx context.Context, md events.Metadata, e events.StepStarted) (Result, error) {
	if e.Attempt <= 0 {
		return Result{}, fmt.Errorf("start step %s: attempt %d, want 1 or more", e.DrvPath, e.Attempt)
	}
	return attemptRefused(h.stepCommand(ctx, md, e.DrvPath, func(s step.State) ([]events.Payload, error) { return step.Start(s, &e) }))
}

// FinishStep records the end of the dispatched or running attempt
// e.Attempt. A second finish or a stale attempt is refused with
// domainerr.ErrConflict.
func (h *Handlers) FinishStep(ctx context.Context, md events.Metadata, e events.StepFinished) (Result, error) {
	return h.stepCommand(ctx, md, e.DrvPath, func(s step.State) ([]events.Payload, error) { return step.Finish(s, &e) })
}

// StepOutcome is what a builder reports at the end of an attempt: where
// its log went (Log.Location empty when nowhere), what it uploaded and
// scraped, and the attempt's StepFinished.
type StepOutcome struct {
	Log      events.StepLogStored
	Uploads  []events.OutputUploaded
	Products []events.ProductScraped
	Metrics  []events.MetricScraped
	Finished events.StepFinished
}

// CompleteStep records o in one append ending with StepFinished, under
// FinishStep's rule: an attempt that was ended elsewhere (requeued,
// cancelled, given up) is refused with ErrAttemptRefused and nothing is
// recorded; RecordStepLog keeps its log then.
func (h *Handlers) CompleteStep(ctx context.Context, md events.Metadata, o StepOutcome) (Result, error) {
	work := make([]events.Payload, 0, 1+len(o.Uploads)+len(o.Products)+len(o.Metrics))
	if o.Log.Location != "" {
		work = append(work, &o.Log)
	}
	for i := range o.Uploads {
		work = append(work, &o.Uploads[i])
	}
	work = appendScraped(work, o.Products, o.Metrics)
	return attemptRefused(h.stepCommand(ctx, md, o.Finished.DrvPath, func(s step.State) ([]events.Payload, error) {
		fin, err := step.Finish(s, &o.Finished)
		if err != nil {
			return nil, err
		}
		return append(work[:len(work):len(work)], fin...), nil
	}))
}

// appendScraped appends products, then metrics, to work.
func appendScraped(work []events.Payload, products []events.ProductScraped, metrics []events.MetricScraped) []events.Payload {
	for i := range products {
		work = append(work, &products[i])
	}
	for i := range metrics {
		work = append(work, &metrics[i])
	}
	return work
}

// RecordStepLog records where the log of an attempt went, whatever the
// step's phase (step.RecordLog).
func (h *Handlers) RecordStepLog(ctx context.Context, md events.Metadata, l events.StepLogStored) (Result, error) {
	return h.stepCommand(ctx, md, l.DrvPath, func(s step.State) ([]events.Payload, error) { return step.RecordLog(s, &l) })
}

// AbortStep records the end of a queued step that never got a machine
// (status 9, unsupported).
func (h *Handlers) AbortStep(ctx context.Context, md events.Metadata, e events.StepFinished) (Result, error) {
	return h.stepCommand(ctx, md, e.DrvPath, func(s step.State) ([]events.Payload, error) { return step.Abort(s, &e) })
}

// RequeueStep records StepRetryScheduled for the current attempt: a retry
// after a transient failure, a requeue after an expired lease (at time
// now), or a requeue of a failed step for a restarted build.
func (h *Handlers) RequeueStep(ctx context.Context, md events.Metadata, r events.StepRetryScheduled, now int64) (Result, error) {
	return h.stepCommand(ctx, md, r.DrvPath, func(s step.State) ([]events.Payload, error) { return step.Requeue(s, &r, now) })
}

// AbandonStep records, for a running attempt the scheduler gave up on
// (its builder went silent past the step's timeout), StepFinished f
// (status 3) and, when retry is not nil, the StepRetryScheduled that
// puts it back in the queue, in one append.
func (h *Handlers) AbandonStep(ctx context.Context, md events.Metadata, f events.StepFinished, retry *events.StepRetryScheduled) (Result, error) {
	return h.stepCommand(ctx, md, f.DrvPath, func(s step.State) ([]events.Payload, error) {
		out, err := step.Finish(s, &f)
		if err != nil || retry == nil {
			return out, err
		}
		more, err := step.Requeue(step.Evolve(s, &f), retry, f.StopTime)
		if err != nil {
			return nil, err
		}
		return append(out, more...), nil
	})
}

// FinishBuild records f on the build's stream, once: a build that already
// finished (or was cancelled) is refused with domainerr.ErrConflict.
func (h *Handlers) FinishBuild(ctx context.Context, md events.Metadata, f events.BuildFinished) (Result, error) {
	return h.FinishCreditedBuild(ctx, md, f, nil, nil)
}

// FinishCreditedBuild is FinishBuild for a build credited with a step's
// run as another build's dependency: what that run's outputs declared
// (StepFinished.Products and Metrics, as f's build's) goes in the same
// append, before f, as a builder records a top-level run's.
func (h *Handlers) FinishCreditedBuild(ctx context.Context, md events.Metadata, f events.BuildFinished,
	products []events.ProductScraped, metrics []events.MetricScraped) (Result, error) {
	scraped := appendScraped(make([]events.Payload, 0, len(products)+len(metrics)+1), products, metrics)
	return Execute(ctx, h.rt, streams.Build(f.BuildID), buildFinishAggregate, func(s build.State) ([]events.Payload, error) {
		fin, err := build.Finish(s, &f)
		if err != nil {
			return nil, err
		}
		return append(scraped[:len(scraped):len(scraped)], fin...), nil
	}, md)
}

// StepFollower follows one step's stream as it grows, for a builder that
// must stop once the attempt it runs is no longer the step's running one.
type StepFollower struct {
	rt     *Runtime
	stream string
	l      Loaded[step.State]
}

// FollowStep returns a StepFollower of the step building drvPath.
func (h *Handlers) FollowStep(drvPath string) *StepFollower {
	return &StepFollower{rt: h.rt, stream: streams.Step(drvPath)}
}

// Superseded reads the events appended since the last call and reports
// whether attempt is no longer running (step.State.Runs), with where the
// step stands then.
func (f *StepFollower) Superseded(ctx context.Context, attempt int) (bool, string, error) {
	l, err := CatchUp(ctx, f.rt, f.stream, StepAggregate, f.l)
	if err != nil {
		return false, "", err
	}
	f.l = l
	s := l.State
	if s.Runs(attempt) {
		return false, "", nil
	}
	return true, fmt.Sprintf("%s attempt %d is %s (status %d) at attempt %d", s.DrvPath, attempt, s.Phase, s.Status, s.Attempt), nil
}
