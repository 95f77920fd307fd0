package evaluation_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/commands/evaluation"
	"buildledger/domain/jobset"
)

// gatedNix holds every evaluation until the test lets it go, so that a
// second request finds one running.
type gatedNix struct {
	evaluation.Evaluator
	started chan<- struct{}
	gate    <-chan struct{}
}

func (g gatedNix) Evaluate(ctx context.Context, req evaluation.Request) (evaluation.Result, error) {
	g.started <- struct{}{}
	<-g.gate
	return g.Evaluator.Evaluate(ctx, req)
}

// TestEvaluateNow: a request for an evaluation while one is running (as
// "buildledger eval" right after "jobset create", whose evaluation the
// evaluator has already started) waits for it and answers with its
// summary; with Force, a new evaluation follows the running one; a
// request given up while waiting says so and leaves the running one be.
func TestEvaluateNow(t *testing.T) {
	t.Parallel()
	started, gate := make(chan struct{}, 4), make(chan struct{})
	e := newEnv(t, envOptions{nix: func(n evaluation.Evaluator) evaluation.Evaluator {
		return gatedNix{Evaluator: n, started: started, gate: gate}
	}})
	e.createJobset("j", e.legacy("small.nix"))

	type result struct {
		sum evaluation.Summary
		err error
	}
	waits := make(chan int64, 4)
	evaluate := func(ctx context.Context, now bool, force bool) <-chan result {
		ch := make(chan result, 1)
		go func() {
			var r result
			if now {
				r.sum, r.err = e.svc.EvaluateNow(ctx, e.evaluator, evaluation.Evaluate{Project: "p", Jobset: "j", Force: force,
					Waiting: func(id int64) { waits <- id }})
			} else {
				r.sum, r.err = e.svc.Evaluate(ctx, e.evaluator, evaluation.Evaluate{Project: "p", Jobset: "j", Force: force})
			}
			ch <- r
		}()
		return ch
	}

	running := evaluate(e.ctx, false, false)
	<-started
	_, err := e.svc.Evaluate(e.ctx, e.evaluator, evaluation.Evaluate{Project: "p", Jobset: "j"})
	require.ErrorIs(t, err, jobset.ErrEvaluating, "Evaluate still refuses")

	cancelled, cancel := context.WithCancel(e.ctx)
	givenUp := evaluate(cancelled, true, false)
	waiting := evaluate(e.ctx, true, false)
	first, second := <-waits, <-waits
	require.Equal(t, first, second, "both wait for the running evaluation")
	cancel()
	gone := <-givenUp
	require.ErrorIs(t, gone.err, context.Canceled)
	require.Contains(t, gone.err.Error(), "wait for evaluation")

	gate <- struct{}{}
	done := <-running
	require.NoError(t, done.err)
	require.Equal(t, jobset.OutcomeFinished, done.sum.Outcome, done.sum.Error)
	require.Equal(t, first, done.sum.EvalID)
	got := <-waiting
	require.NoError(t, got.err)
	want := done.sum
	// The log keeps whole seconds, and not the recording's own timings.
	want.CheckoutTime, want.EvalTime = want.CheckoutTime.Truncate(time.Second), want.EvalTime.Truncate(time.Second)
	want.GraphTime, want.RecordTime = 0, 0
	require.Equal(t, want, got.sum, "the waiting request answers with the running evaluation's summary")
	require.Positive(t, got.sum.Steps)

	// Forced: the running evaluation ends, then a new one runs.
	running = evaluate(e.ctx, false, true)
	<-started
	forced := evaluate(e.ctx, true, true)
	<-waits
	gate <- struct{}{}
	<-started
	gate <- struct{}{}
	prev := <-running
	require.NoError(t, prev.err)
	next := <-forced
	require.NoError(t, next.err)
	require.Equal(t, jobset.OutcomeFinished, next.sum.Outcome, next.sum.Error)
	require.Greater(t, next.sum.EvalID, prev.sum.EvalID)
}
