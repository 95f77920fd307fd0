package step_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/domain/step"
	"buildledger/events"
)

const drv = "/nix/store/aaaa-x.drv"

func fold(ps ...events.Payload) step.State {
	var s step.State
	for _, p := range ps {
		s = step.Evolve(s, p)
	}
	return s
}

var (
	queued     = fold(&events.StepQueued{DrvPath: drv, System: "x86_64-linux"})
	dispatched = fold(&events.StepQueued{DrvPath: drv}, &events.StepDispatched{DrvPath: drv, Attempt: 1, Machine: "m", LeaseUntil: 100})
	running    = fold(&events.StepQueued{DrvPath: drv}, &events.StepDispatched{DrvPath: drv, Attempt: 1, LeaseUntil: 100}, &events.StepStarted{DrvPath: drv, Attempt: 1, Machine: "m"})
	aborted    = fold(&events.StepQueued{DrvPath: drv}, &events.StepDispatched{DrvPath: drv, Attempt: 1, LeaseUntil: 100}, &events.StepFinished{DrvPath: drv, Attempt: 1, Status: 3})
	succeeded  = fold(&events.StepQueued{DrvPath: drv}, &events.StepDispatched{DrvPath: drv, Attempt: 1, LeaseUntil: 100}, &events.StepFinished{DrvPath: drv, Attempt: 1, Status: 0})
	retrying   = step.Evolve(aborted, &events.StepRetryScheduled{DrvPath: drv, Attempt: 1, RetryAt: 160})
)

func TestEvolve(t *testing.T) {
	require.Equal(t, step.Queued, queued.Phase)
	require.Equal(t, "x86_64-linux", queued.System)
	require.Equal(t, step.Dispatched, dispatched.Phase)
	require.Equal(t, step.Running, running.Phase)
	require.Equal(t, step.Failed, aborted.Phase)
	require.Equal(t, 1, aborted.Tries)
	require.Equal(t, step.Queued, retrying.Phase)
	require.Equal(t, int64(160), retrying.RetryAt)
	require.Equal(t, 1, retrying.Attempt)
	require.Equal(t, step.Succeeded, succeeded.Phase)
	restarted := step.Evolve(aborted, &events.StepRetryScheduled{DrvPath: drv, Attempt: 1, Reason: step.ReasonRestart})
	require.Equal(t, 0, restarted.Tries)
	again := step.Evolve(succeeded, &events.StepQueued{DrvPath: drv})
	require.Equal(t, step.Queued, again.Phase, "queued again after its outputs were lost")
	failedStays := step.Evolve(step.Evolve(aborted, &events.StepQueued{DrvPath: drv}), &events.StepQueued{DrvPath: drv})
	require.Equal(t, step.Failed, failedStays.Phase, "a failed step is not requeued by StepQueued")
}

func TestDecide(t *testing.T) {
	d := func(attempt int, now int64) *events.StepDispatched {
		return &events.StepDispatched{DrvPath: drv, Attempt: attempt, Machine: "m2", LeaseUntil: now + 60, Timestamp: now}
	}
	tests := []struct {
		name  string
		do    func() ([]events.Payload, error)
		errIs error
	}{
		{"dispatch unknown", func() ([]events.Payload, error) { return step.Dispatch(step.State{}, d(1, 10)) }, domainerr.ErrNotFound},
		{"dispatch queued", func() ([]events.Payload, error) { return step.Dispatch(queued, d(1, 10)) }, nil},
		{"dispatch stale attempt", func() ([]events.Payload, error) { return step.Dispatch(queued, d(2, 10)) }, domainerr.ErrConflict},
		{"dispatch twice within lease", func() ([]events.Payload, error) { return step.Dispatch(dispatched, d(2, 50)) }, domainerr.ErrConflict},
		{"dispatch after lease", func() ([]events.Payload, error) { return step.Dispatch(dispatched, d(2, 100)) }, nil},
		{"dispatch running", func() ([]events.Payload, error) { return step.Dispatch(running, d(2, 500)) }, domainerr.ErrConflict},
		{"dispatch succeeded", func() ([]events.Payload, error) { return step.Dispatch(succeeded, d(2, 500)) }, domainerr.ErrConflict},
		{"dispatch retry", func() ([]events.Payload, error) { return step.Dispatch(retrying, d(2, 500)) }, nil},
		{"start dispatched", func() ([]events.Payload, error) {
			return step.Start(dispatched, &events.StepStarted{DrvPath: drv, Attempt: 1})
		}, nil},
		{"start duplicate", func() ([]events.Payload, error) {
			return step.Start(running, &events.StepStarted{DrvPath: drv, Attempt: 1})
		}, domainerr.ErrConflict},
		{"start stale attempt", func() ([]events.Payload, error) {
			return step.Start(dispatched, &events.StepStarted{DrvPath: drv, Attempt: 0})
		}, domainerr.ErrConflict},
		{"finish running", func() ([]events.Payload, error) {
			return step.Finish(running, &events.StepFinished{DrvPath: drv, Attempt: 1})
		}, nil},
		{"finish twice", func() ([]events.Payload, error) {
			return step.Finish(succeeded, &events.StepFinished{DrvPath: drv, Attempt: 1})
		}, domainerr.ErrConflict},
		{"requeue failed", func() ([]events.Payload, error) {
			return step.Requeue(aborted, &events.StepRetryScheduled{DrvPath: drv, Attempt: 1}, 10)
		}, nil},
		{"requeue live lease", func() ([]events.Payload, error) {
			return step.Requeue(dispatched, &events.StepRetryScheduled{DrvPath: drv, Attempt: 1}, 99)
		}, domainerr.ErrConflict},
		{"requeue live lease of a stopped queue runner", func() ([]events.Payload, error) {
			return step.Requeue(dispatched, &events.StepRetryScheduled{DrvPath: drv, Attempt: 1, Reason: step.ReasonLost}, 99)
		}, nil},
		{"requeue live lease of an unsent command", func() ([]events.Payload, error) {
			return step.Requeue(dispatched, &events.StepRetryScheduled{DrvPath: drv, Attempt: 1, Reason: step.ReasonUnsent}, 99)
		}, nil},
		{"requeue running as lost", func() ([]events.Payload, error) {
			return step.Requeue(running, &events.StepRetryScheduled{DrvPath: drv, Attempt: 1, Reason: step.ReasonLost}, 99)
		}, nil},
		{"requeue succeeded as lost", func() ([]events.Payload, error) {
			return step.Requeue(succeeded, &events.StepRetryScheduled{DrvPath: drv, Attempt: 1, Reason: step.ReasonLost}, 10)
		}, domainerr.ErrConflict},
		{"requeue expired lease", func() ([]events.Payload, error) {
			return step.Requeue(dispatched, &events.StepRetryScheduled{DrvPath: drv, Attempt: 1}, 100)
		}, nil},
		{"requeue stale attempt", func() ([]events.Payload, error) {
			return step.Requeue(aborted, &events.StepRetryScheduled{DrvPath: drv, Attempt: 2}, 10)
		}, domainerr.ErrConflict},
		{"requeue succeeded", func() ([]events.Payload, error) {
			return step.Requeue(succeeded, &events.StepRetryScheduled{DrvPath: drv, Attempt: 1}, 10)
		}, domainerr.ErrConflict},
		{"abort queued", func() ([]events.Payload, error) {
			return step.Abort(queued, &events.StepFinished{DrvPath: drv, Status: 9})
		}, nil},
		{"abort dispatched", func() ([]events.Payload, error) {
			return step.Abort(dispatched, &events.StepFinished{DrvPath: drv, Attempt: 1, Status: 9})
		}, domainerr.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.do()
			if tt.errIs != nil {
				require.ErrorIs(t, err, tt.errIs)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, 1)
		})
	}
}
