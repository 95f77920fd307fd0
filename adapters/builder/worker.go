package builder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/status"
	"buildledger/domain/step"
	"buildledger/events"
)

// finishTimeout bounds recording the end of a step whose context ended.
const finishTimeout = 30 * time.Second

// ErrDuplicate is returned (wrapped) by Build for a BuildStep whose attempt
// cannot start: a duplicate delivery, or an attempt the scheduler has
// since given up on.
var ErrDuplicate = errors.New("build step refused: already started, finished or superseded")

// Handle is the worker's commands.BuildStepHandler. It records StepStarted
// and returns; the step then runs in the background (see Wait, Close).
// A duplicate delivery is refused by the step stream and returns nil
// without building; an error recording StepStarted is returned so that
// the bus redelivers.
func (w *Worker) Handle(ctx context.Context, c commands.BuildStep) error {
	started, err := w.start(ctx, c)
	if errors.Is(err, ErrDuplicate) {
		w.log.InfoContext(ctx, "duplicate build step ignored", "drv", c.DrvPath, "attempt", c.Attempt, "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	w.running.Add(1)
	go func() {
		defer w.running.Done()
		ctx, cancel := w.stepContext(ctx)
		defer cancel()
		if _, err := w.run(ctx, c, started); err != nil {
			w.log.Error("build step not recorded", "drv", c.DrvPath, "attempt", c.Attempt, "err", err)
		}
	}()
	return nil
}

// Build carries out c and returns what it recorded: StepStarted, the step's
// work, and the final append ending with StepFinished. A refused start is
// an error wrapping ErrDuplicate; a failed build is not an error (see
// Result.Finished.Status).
func (w *Worker) Build(ctx context.Context, c commands.BuildStep) (Result, error) {
	started, err := w.start(ctx, c)
	if err != nil {
		return Result{}, err
	}
	w.running.Add(1)
	defer w.running.Done()
	ctx, cancel := w.stepContext(ctx)
	defer cancel()
	return w.run(ctx, c, started)
}

// stepContext keeps ctx's values but lets only the worker's Close cancel
// the step: a bus may cancel a message's context once it is handled.
func (w *Worker) stepContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(w.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// metadata returns the metadata of the worker's events for c.
func (w *Worker) metadata(c commands.BuildStep) events.Metadata {
	md := commands.NewMetadata(w.cfg.Actor, w.cfg.Runtime)
	if c.CorrelationID != "" {
		md.CorrelationID = c.CorrelationID
	}
	if c.ID != "" {
		md.CausationID = c.ID
	}
	return md
}

// start records StepStarted for c.
func (w *Worker) start(ctx context.Context, c commands.BuildStep) (events.StepStarted, error) {
	if c.DrvPath == "" || c.Attempt <= 0 {
		return events.StepStarted{}, fmt.Errorf("build step: %w", domainerr.Invalid("drvPath", "need a derivation path and an attempt, got %q attempt %d", c.DrvPath, c.Attempt))
	}
	e := events.StepStarted{DrvPath: c.DrvPath, BuildID: c.BuildID, StepNr: c.StepNr, Machine: c.Machine,
		Attempt: c.Attempt, System: c.System, StartTime: w.cfg.Runtime.Clock().Now().Unix()}
	_, err := commands.StartStep(ctx, w.cfg.Runtime, w.metadata(c), e)
	if errors.Is(err, domainerr.ErrInvalid) || errors.Is(err, domainerr.ErrNotFound) {
		return e, fmt.Errorf("%w: %w", ErrDuplicate, err)
	}
	if err != nil {
		return e, fmt.Errorf("record start of %s: %w", c.DrvPath, err)
	}
	return e, nil
}

// Result is what a step recorded after StepStarted.
type Result struct {
	Started  events.StepStarted
	LogStore events.StepLogStored
	Uploads  []events.OutputUploaded
	Products []events.ProductScraped
	Metrics  []events.MetricScraped
	Finished events.StepFinished
	// Skipped describes the nix-support lines that were not used.
	Skipped []string
}

// run does the step and records its end.
func (w *Worker) run(ctx context.Context, c commands.BuildStep, started events.StepStarted) (Result, error) {
	machine := c.Machine
	w.metrics.running.WithLabelValues(machine).Inc()
	defer w.metrics.running.WithLabelValues(machine).Dec()

	res := w.execute(ctx, c)
	res.Started = started
	fin := &res.Finished
	fin.DrvPath, fin.BuildID, fin.StepNr, fin.Machine, fin.Attempt = c.DrvPath, c.BuildID, c.StepNr, c.Machine, c.Attempt
	fin.StartTime = started.StartTime
	fin.StopTime = w.cfg.Runtime.Clock().Now().Unix()
	w.metrics.finished.WithLabelValues(machine, fmt.Sprint(fin.Status)).Inc()
	w.log.Info("build step finished", "drv", c.DrvPath, "machine", machine, "attempt", c.Attempt,
		"status", status.Code(fin.Status).String(), "error", fin.ErrorMsg)

	rctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
	}
	var payloads []events.Payload
	if res.LogStore.Location != "" {
		payloads = append(payloads, res.LogStore)
	}
	for _, u := range res.Uploads {
		payloads = append(payloads, u)
	}
	for _, p := range res.Products {
		payloads = append(payloads, p)
	}
	for _, m := range res.Metrics {
		payloads = append(payloads, m)
	}
	_, err := commands.Execute(rctx, w.cfg.Runtime, stepStream(c.DrvPath), commands.StepAggregate,
		func(s step.State) ([]events.Payload, error) {
			fin, err := step.Finish(s, *fin)
			if err != nil {
				return nil, err
			}
			return append(payloads[:len(payloads):len(payloads)], fin...), nil
		}, w.metadata(c))
	if err != nil {
		return res, fmt.Errorf("record end of %s attempt %d: %w", c.DrvPath, c.Attempt, err)
	}
	return res, nil
}
