package builder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"buildledger/commands"
	"buildledger/domain/status"
	"buildledger/events"
)

// finishTimeout bounds recording the end of a step whose context ended.
const finishTimeout = 30 * time.Second

// ErrDuplicate is returned (wrapped) by Build for a BuildStep whose attempt
// cannot start: a duplicate delivery, or an attempt the scheduler has
// since given up on.
var ErrDuplicate = errors.New("build step refused: already started, finished or superseded")

// ErrSuperseded is returned (wrapped) by Build when the step's attempt
// was ended by someone else while it ran: the scheduler cancelled it
// (status 4) because no build needs it any more, or gave it up. The build
// was killed and only its log was recorded.
var ErrSuperseded = errors.New("build step ended elsewhere while it ran")

// Handle is the worker's commands.BuildStepHandler. It records StepStarted
// and returns; the step then runs in the background (see Wait, Close).
// A verification (c.Verify) runs in the background too, see Verify.
// A duplicate delivery is refused by the step stream and returns nil
// without building; an error recording StepStarted is returned so that
// the bus redelivers.
func (w *Worker) Handle(ctx context.Context, c commands.BuildStep) error {
	if c.Verify != nil {
		w.running.Add(1)
		go func() {
			defer w.running.Done()
			ctx, cancel := w.stepContext(ctx)
			defer cancel()
			if _, err := w.Verify(ctx, c); err != nil {
				w.log.Info("verification not recorded", "drv", c.DrvPath, "attempt", c.Attempt, "err", err)
			}
		}()
		return nil
	}
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
		_, err := w.run(ctx, c, started)
		switch {
		case errors.Is(err, ErrSuperseded):
			w.log.Info("build step aborted", "drv", c.DrvPath, "attempt", c.Attempt, "reason", err)
		case err != nil:
			w.log.Error("build step not recorded", "drv", c.DrvPath, "attempt", c.Attempt, "err", err)
		}
	}()
	return nil
}

// Build carries out c and returns what it recorded: StepStarted, the step's
// work, and the final append ending with StepFinished. A refused start is
// an error wrapping ErrDuplicate, an attempt ended elsewhere while it ran
// one wrapping ErrSuperseded; a failed build is not an error (see
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
	e := events.StepStarted{DrvPath: c.DrvPath, BuildID: c.BuildID, StepNr: c.StepNr, Machine: c.Machine,
		Attempt: c.Attempt, System: c.System, StartTime: w.cfg.Runtime.Clock().Now().Unix()}
	_, err := w.steps.StartStep(ctx, w.metadata(c), e)
	if errors.Is(err, commands.ErrAttemptRefused) {
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

// run does the step and records its end. While the step runs, its stream
// is watched: an attempt ended elsewhere kills the build.
func (w *Worker) run(ctx context.Context, c commands.BuildStep, started events.StepStarted) (Result, error) {
	machine := c.Machine
	w.metrics.running.WithLabelValues(machine).Inc()
	defer w.metrics.running.WithLabelValues(machine).Dec()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		w.watch(wctx, c, cancel)
	}()
	res := w.execute(ctx, c)
	stopWatch()
	<-watched
	res.Started = started
	if why := context.Cause(ctx); errors.Is(why, ErrSuperseded) {
		w.metrics.finished.WithLabelValues(machine, "superseded").Inc()
		return w.recordLog(ctx, c, res, why)
	}
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
	_, err := w.steps.CompleteStep(rctx, w.metadata(c), commands.StepOutcome{Log: res.LogStore, Uploads: res.Uploads,
		Products: res.Products, Metrics: res.Metrics, Finished: *fin})
	if errors.Is(err, commands.ErrAttemptRefused) {
		// The attempt was ended elsewhere just as the build finished.
		return w.recordLog(rctx, c, res, fmt.Errorf("%w: %w", ErrSuperseded, err))
	}
	if err != nil {
		return res, fmt.Errorf("record end of %s attempt %d: %w", c.DrvPath, c.Attempt, err)
	}
	return res, nil
}

// watch reads the step's stream every WatchInterval while ctx lasts and
// cancels ctx with ErrSuperseded once attempt c.Attempt is no longer
// running: the scheduler recorded its end (status 4 when no build needs
// the step any more) or requeued it.
func (w *Worker) watch(ctx context.Context, c commands.BuildStep, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(w.cfg.WatchInterval)
	defer tick.Stop()
	f := w.steps.FollowStep(c.DrvPath)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		superseded, why, err := f.Superseded(ctx, c.Attempt)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("watch build step", "drv", c.DrvPath, "err", err)
			}
			continue
		}
		if superseded {
			cancel(fmt.Errorf("%w: %s", ErrSuperseded, why))
			return
		}
	}
}

// recordLog records, for an attempt ended elsewhere, only where its log
// went, and returns why the attempt was superseded.
func (w *Worker) recordLog(ctx context.Context, c commands.BuildStep, res Result, why error) (Result, error) {
	res.Uploads, res.Products, res.Metrics, res.Finished = nil, nil, nil, events.StepFinished{}
	if res.LogStore.Location == "" {
		return res, why
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
	}
	_, err := w.steps.RecordStepLog(ctx, w.metadata(c), res.LogStore)
	if err != nil {
		return res, fmt.Errorf("%w; record log of %s attempt %d: %w", why, c.DrvPath, c.Attempt, err)
	}
	return res, why
}
